//! The complete model: VadCLIP `CLIPVAD`, the AVadCLIP teacher `AVADCLIP` and the student `AVADCLIP_MODEL` are
//! one [`AvadClip`] with different [`ModelConfig`]s (see `vadclip.rs`, `teacher.rs`, `student.rs` for presets).
//!
//! Weight keys are the official PyTorch state-dict keys, named once in [`AvadClip`]'s `visit_weights`, so
//! [`AvadClip::from_weights`] imports an official checkpoint and [`AvadClip::to_weights`] writes one that PyTorch
//! can load (minus `clipmodel.visual.*`).

use avad_clip::{ClipTextConfig, ClipTextModel};
use avad_nn::init::{normal, Init};
use avad_nn::{load_weights, quick_gelu, Linear, VisitWeights, WeightMap, WeightVisitor};
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audio_tcn::{AudioTcnConfig, TemporalConvNet};
use crate::error::{ModelError, Result};
use crate::fusion::{Fusion, FusionKind};
use crate::graph::{adj4, distance_adj, GraphConvolution};
use crate::nn::Mlp;
use crate::prompt::{alignment_logits, assemble_prompt, visual_prompt, ClassText, PromptVariant};
use crate::student::FeNet;
use crate::temporal::{AttentionPattern, Transformer};
use crate::text_tower::{
    deserialize_text_config, embed_tokens, is_text_tower_key, load_text_tower, random_text_tower,
    text_tower_weights, CLIP_PREFIX,
};

/// Every hyperparameter of the model (serde; defaults = AVadCLIP teacher on XD-Violence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of classes C (XD: 7, UCF: 14).
    pub num_class: usize,
    /// Width of the text features / prompt table (512).
    pub embed_dim: usize,
    /// Padded number of snippets T (256); inputs must have exactly this length.
    pub visual_length: usize,
    /// Visual feature width D (512).
    pub visual_width: usize,
    /// Heads of the temporal transformer.
    pub visual_head: usize,
    /// Blocks of the temporal transformer.
    pub visual_layers: usize,
    /// Attention window (block size) of the temporal transformer.
    pub attn_window: usize,
    /// Learnable prompt rows before the class tokens.
    pub prompt_prefix: usize,
    /// Learnable prompt rows after the class tokens.
    pub prompt_postfix: usize,
    /// Audio path (TCN); `None` for visual-only models.
    pub audio: Option<AudioTcnConfig>,
    /// Audio-visual fusion; must be `none` exactly when `audio` is `None`.
    pub fusion: FusionKind,
    /// How the video feature enters the class embeddings.
    pub prompt: PromptVariant,
    /// Student: insert the FE net after the video encoder (its mean replaces v).
    pub fe_net: bool,
    /// Learnable focal α [C] (`alpha`, init 0.25), present in the AVadCLIP teacher and student.
    pub learnable_alpha: bool,
    /// Shape of the frozen CLIP text tower (its projection is `embed_dim`); older files spell it
    /// `width`/`layers`/`heads`/`context_length`, see [`deserialize_text_config`].
    #[serde(deserialize_with = "deserialize_text_config")]
    pub clip_text: ClipTextConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::avadclip_teacher_xd()
    }
}

impl ModelConfig {
    /// VadCLIP on XD-Violence: 1 layer, 1 head, window 64, 7 classes.
    pub fn vadclip_xd() -> Self {
        Self {
            num_class: 7,
            embed_dim: 512,
            visual_length: 256,
            visual_width: 512,
            visual_head: 1,
            visual_layers: 1,
            attn_window: 64,
            prompt_prefix: 10,
            prompt_postfix: 10,
            audio: None,
            fusion: FusionKind::None,
            prompt: PromptVariant::Add,
            fe_net: false,
            learnable_alpha: false,
            clip_text: ClipTextConfig::default(),
        }
    }

    /// VadCLIP on UCF-Crime: 2 layers, window 8, 14 classes.
    pub fn vadclip_ucf() -> Self {
        Self {
            num_class: 14,
            visual_layers: 2,
            attn_window: 8,
            ..Self::vadclip_xd()
        }
    }

    /// AVadCLIP teacher (XD and CCTV): 2 layers, window 4, TCN audio, adaptive fusion, softmax AV prompt, α.
    pub fn avadclip_teacher_xd() -> Self {
        Self {
            visual_layers: 2,
            attn_window: 4,
            audio: Some(AudioTcnConfig::default()),
            fusion: FusionKind::Adaptive,
            prompt: PromptVariant::Softmax,
            learnable_alpha: true,
            ..Self::vadclip_xd()
        }
    }

    /// AVadCLIP visual student: VadCLIP-XD temporal model (1 layer, window 64) + FE net, softmax prompt, α.
    pub fn avadclip_student_xd() -> Self {
        Self {
            fe_net: true,
            prompt: PromptVariant::Softmax,
            learnable_alpha: true,
            ..Self::vadclip_xd()
        }
    }

    /// Checks that the widths fit together.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(ModelError::Config(m));
        if self.num_class < 2 {
            return err(format!("num_class {} < 2", self.num_class));
        }
        let text = &self.clip_text;
        if self.visual_width != self.embed_dim {
            return err(format!(
                "visual_width ({}) and embed_dim ({}) must be equal",
                self.visual_width, self.embed_dim
            ));
        }
        if text.hidden_size != self.embed_dim {
            return err(format!(
                "clip_text.hidden_size ({}) must equal embed_dim ({}): prompt rows are added to CLIP positions",
                text.hidden_size, self.embed_dim
            ));
        }
        if text.hidden_size.checked_mul(4) != Some(text.intermediate_size)
            || text.hidden_act != "quick_gelu"
        {
            return err(format!(
                "clip_text must be OpenAI CLIP's text tower (MLP 4 × width, quick_gelu), got MLP {} and {:?}",
                text.intermediate_size, text.hidden_act
            ));
        }
        if !self.visual_width.is_multiple_of(2)
            || self.visual_head == 0
            || !self.visual_width.is_multiple_of(self.visual_head)
        {
            return err(format!(
                "visual_width {} must be even and divisible by {} heads",
                self.visual_width, self.visual_head
            ));
        }
        if text.num_attention_heads == 0
            || !text.hidden_size.is_multiple_of(text.num_attention_heads)
        {
            return err(format!(
                "clip_text.hidden_size {} not divisible by {} heads",
                text.hidden_size, text.num_attention_heads
            ));
        }
        if self.attn_window == 0 || self.visual_length == 0 {
            return err("attn_window and visual_length must be positive".into());
        }
        let prompt_tokens = self
            .prompt_prefix
            .checked_add(self.prompt_postfix)
            .and_then(|n| n.checked_add(3));
        if prompt_tokens.is_none_or(|n| n > text.max_position_embeddings) {
            return err(format!(
                "prompt prefix {} + postfix {} leave no room in the context {}",
                self.prompt_prefix, self.prompt_postfix, text.max_position_embeddings
            ));
        }
        if self.audio.is_some() != (self.fusion != FusionKind::None) {
            return err(format!(
                "fusion {:?} and audio {:?} disagree (audio needs a fusion)",
                self.fusion, self.audio
            ));
        }
        Ok(())
    }

    fn audio_out_width(&self) -> usize {
        self.audio
            .as_ref()
            .and_then(|a| a.channels.last().copied())
            .unwrap_or(self.visual_width)
    }
}

/// Checks one valid length (1..=T) per video of a batch of `b`.
pub(crate) fn check_lengths(lengths: &[usize], b: usize, t: usize) -> Result<()> {
    if lengths.len() != b {
        return Err(ModelError::Input(format!(
            "{} lengths for a batch of {b}",
            lengths.len()
        )));
    }
    if let Some(l) = lengths.iter().find(|&&l| l == 0 || l > t) {
        return Err(ModelError::Input(format!(
            "valid length {l} outside 1..={t}"
        )));
    }
    Ok(())
}

/// What one forward pass returns.
#[derive(Debug, Clone)]
pub struct ModelOutput<B: Backend> {
    /// The feature the heads read, [B, T, D]: v (VadCLIP), X_av (teacher), mu (student).
    pub features: Tensor<B, 3>,
    /// Output of the video encoder (transformer + GCN + linear), [B, T, D].
    pub visual_features: Tensor<B, 3>,
    /// TCN output, [B, T, Da] (audio models).
    pub audio_features: Option<Tensor<B, 3>>,
    /// Adaptive fusion's per-dimension gate W = sigmoid(gate_proj(concat[v, a])), [B, T, D], in (0, 1): how much of
    /// the audio-driven residual R each dimension lets through. `None` for every other fusion (add, concat-linear,
    /// cross-attention, none), which have no gate.
    pub fusion_gate: Option<Tensor<B, 3>>,
    /// Adaptive fusion's gated residual W ⊙ R, [B, T, D], so that X_av = `visual_features` + this. `None` otherwise.
    pub fusion_residual: Option<Tensor<B, 3>>,
    /// Student log-variance θ, [B, T, D].
    pub theta: Option<Tensor<B, 3>>,
    /// Class text features before the visual prompt, [C, E] (official `text_features_ori`).
    pub text_features: Tensor<B, 2>,
    /// C-branch raw logits, [B, T, 1].
    pub logits1: Tensor<B, 3>,
    /// A-branch alignment logits, [B, T, C].
    pub logits2: Tensor<B, 3>,
    /// Learnable focal α, [C].
    pub alpha: Option<Tensor<B, 1>>,
}

/// What [`AvadClip::from_weights`] did not use (for the caller to judge; CLIP vision keys are listed apart).
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Keys under `clipmodel.` that the text tower does not use (vision tower, `logit_scale`).
    pub ignored_clip_keys: usize,
    /// Other keys that nothing consumed.
    pub unused_keys: Vec<String>,
}

/// VadCLIP / AVadCLIP model (fields named like the official keys).
#[derive(Module, Debug)]
pub struct AvadClip<B: Backend> {
    /// `frame_position_embeddings.weight` [T, D].
    pub frame_position_embeddings: Param<Tensor<B, 2>>,
    /// `temporal.resblocks.N.*`: the windowed transformer.
    pub temporal: Transformer<B>,
    /// `gc1`: D → D/2 on the similarity graph (conv residual).
    pub gc1: GraphConvolution<B>,
    /// `gc2`: D/2 → D/2 on the similarity graph.
    pub gc2: GraphConvolution<B>,
    /// `gc3`: D → D/2 on the distance graph (conv residual).
    pub gc3: GraphConvolution<B>,
    /// `gc4`: D/2 → D/2 on the distance graph.
    pub gc4: GraphConvolution<B>,
    /// `disAdj.sigma` [1]: stored by upstream, never used.
    pub dis_adj_sigma: Param<Tensor<B, 1>>,
    /// `linear`: D → D on concat[x1, x2].
    pub linear: Linear<B>,
    /// `mlp1`: FFN on the prompted class embeddings.
    pub mlp1: Mlp<B>,
    /// `mlp2`: FFN before the classifier.
    pub mlp2: Mlp<B>,
    /// `classifier`: D → 1.
    pub classifier: Linear<B>,
    /// `text_prompt_embeddings.weight` [77, E].
    pub text_prompt_embeddings: Param<Tensor<B, 2>>,
    /// `temporalconvnet.*` (audio models).
    pub temporalconvnet: Option<TemporalConvNet<B>>,
    /// `temporalgatedresidual.*` or an ablation fusion (audio models).
    pub fusion: Option<Fusion<B>>,
    /// `fe_net.*` (student).
    pub fe_net: Option<FeNet<B>>,
    /// `alpha` [C] (AVadCLIP teacher and student).
    pub alpha: Option<Param<Tensor<B, 1>>>,
    /// `clipmodel.*`: the frozen CLIP text tower (avad-clip's, stored under OpenAI names).
    pub clipmodel: ClipTextModel<B>,
    /// Temporal attention window.
    pub attn_window: usize,
    /// Prompt prefix length.
    pub prompt_prefix: usize,
    /// Prompt postfix length.
    pub prompt_postfix: usize,
    /// Visual / AV prompt variant.
    pub prompt_variant: PromptVariant,
}

impl<B: Backend> AvadClip<B> {
    /// A freshly initialised model (PyTorch-default inits; prompt and position tables N(0, 0.01); α = 0.25).
    /// The CLIP text tower is random too (drawn last): replace it with real CLIP weights through
    /// [`AvadClip::load_clip_text`].
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Result<Self> {
        let mut model = Self::new_without_text(cfg, device)?;
        model.clipmodel = random_text_tower(&cfg.clip_text, cfg.embed_dim, device);
        Ok(model)
    }

    /// Like [`AvadClip::new`] (the same draws for the model's own parameters), with a placeholder CLIP text tower
    /// that allocates nothing: for callers that set the tower next (loaded weights or their own seeded random
    /// tower), so no random tower is drawn only to be thrown away.
    pub fn new_without_text(cfg: &ModelConfig, device: &B::Device) -> Result<Self> {
        Self::build(cfg, Init::Random, device)
    }

    /// The model's own modules (random or placeholders, drawn in upstream's order: the audio TCN first) and a
    /// placeholder text tower.
    fn build(cfg: &ModelConfig, init: Init, device: &B::Device) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.visual_width;
        let h = d / 2;
        let audio = match &cfg.audio {
            Some(a) => Some(TemporalConvNet::new(a, init, device)?),
            None => None,
        };
        let (t, e) = (cfg.visual_length, cfg.clip_text.max_position_embeddings);
        Ok(Self {
            frame_position_embeddings: init.param([t, d], device, || normal([t, d], 0.01, device)),
            temporal: Transformer::new(d, cfg.visual_layers, cfg.visual_head, init, device),
            gc1: GraphConvolution::new(d, h, init, device),
            gc2: GraphConvolution::new(h, h, init, device),
            gc3: GraphConvolution::new(d, h, init, device),
            gc4: GraphConvolution::new(h, h, init, device),
            // Stored by upstream, never used; older files lack it, so it keeps this value then.
            dis_adj_sigma: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0.1f32], [1]),
                device,
            )),
            linear: Linear::init(d, d, true, init, device),
            mlp1: Mlp::new(d, 4 * d, init, device),
            mlp2: Mlp::new(d, 4 * d, init, device),
            classifier: Linear::init(d, 1, true, init, device),
            text_prompt_embeddings: init.param([e, cfg.embed_dim], device, || {
                normal([e, cfg.embed_dim], 0.01, device)
            }),
            temporalconvnet: audio,
            fusion: Fusion::new(cfg.fusion, d, cfg.audio_out_width(), init, device)?,
            fe_net: cfg.fe_net.then(|| FeNet::new(d, init, device)),
            alpha: cfg
                .learnable_alpha
                .then(|| Param::from_tensor(Tensor::full([cfg.num_class], 0.25, device))),
            clipmodel: ClipTextModel::placeholder(&cfg.clip_text, cfg.embed_dim, device)?,
            attn_window: cfg.attn_window,
            prompt_prefix: cfg.prompt_prefix,
            prompt_postfix: cfg.prompt_postfix,
            prompt_variant: cfg.prompt,
        })
    }

    /// Builds the model from weights with the official PyTorch keys (an official `.pth` read by
    /// [`WeightMap::load_pytorch`], or an avad safetensors checkpoint), the CLIP text tower from `clipmodel.*`.
    /// Missing or mis-shaped tensors are errors; unused keys are reported.
    pub fn from_weights(
        cfg: &ModelConfig,
        w: &WeightMap,
        device: &B::Device,
    ) -> Result<(Self, ImportReport)> {
        let mut model = Self::build(cfg, Init::Placeholder, device)?;
        let own = load_weights(&mut model, w, "")?;
        model.clipmodel = load_text_tower(w, &cfg.clip_text, cfg.embed_dim, CLIP_PREFIX, device)?;
        let (clip, other): (Vec<String>, Vec<String>) = own
            .unused_keys
            .into_iter()
            .partition(|k| k.starts_with(CLIP_PREFIX));
        let ignored_clip_keys = clip.iter().filter(|k| !is_text_tower_key(k)).count();
        Ok((
            model,
            ImportReport {
                ignored_clip_keys,
                unused_keys: other,
            },
        ))
    }

    /// Replaces the CLIP text tower with one loaded from OpenAI-named keys under `prefix` (`""` for a bare CLIP
    /// state dict, `"clipmodel."` for an official VadCLIP checkpoint).
    pub fn load_clip_text(
        mut self,
        cfg: &ClipTextConfig,
        w: &WeightMap,
        prefix: &str,
    ) -> Result<Self> {
        let device = self.frame_position_embeddings.device();
        let embed_dim = self.text_prompt_embeddings.dims()[1];
        self.clipmodel = load_text_tower(w, cfg, embed_dim, prefix, &device)?;
        Ok(self)
    }

    /// Every parameter under its official key, the CLIP text tower under `clipmodel.` (OpenAI names; TCN convs
    /// under both of their aliases).
    pub fn to_weights(&self) -> WeightMap {
        let mut out = avad_nn::save_weights(self, "");
        out.extend(text_tower_weights(&self.clipmodel, CLIP_PREFIX));
        out
    }

    /// Marks the CLIP text tower as frozen (no weight gradients), as upstream's `requires_grad = False`.
    pub fn freeze_clip(mut self) -> Self {
        self.clipmodel = self.clipmodel.no_grad();
        self
    }

    /// Tokenised class names → [`ClassText`] (token embeddings looked up in the frozen CLIP table).
    /// `token_ids`: one row per class, `[SOT, …, EOT]` (from the CLIP tokenizer), zero padding optional.
    pub fn class_text(&self, token_ids: &[Vec<u32>]) -> Result<ClassText<B>> {
        let emb = embed_tokens(&self.clipmodel, token_ids)?;
        ClassText::new(token_ids, emb)
    }

    /// `encode_textprompt`: learnable prompt around the class tokens through the CLIP text tower → [C, E].
    ///
    /// The tower's attention is causal and only the row at each class's EOT slot is read, so the positions after
    /// the last slot cannot change the result (nor receive gradient): the prompt is cut after that slot before the
    /// tower (for short class names with 10 + 10 prompt rows, about a third of the 77 positions), which gives the
    /// same features as upstream's full-length `encode_text` for a fraction of the work.
    pub fn text_features(&self, text: &ClassText<B>) -> Result<Tensor<B, 2>> {
        let (emb, slots) = assemble_prompt(
            self.text_prompt_embeddings.val(),
            text,
            self.prompt_prefix,
            self.prompt_postfix,
        )?; // [C, 77, E]
        let used = slots.iter().max().map_or(1, |&s| s + 1);
        let emb = emb.narrow(1, 0, used); // [C, last slot + 1, E]
        Ok(self.clipmodel.encode_embeddings(emb, &slots)?)
    }

    /// `encode_video`: position embeddings, windowed transformer, both graph branches and `linear`.
    /// visual [B, T, D] with valid lengths → v [B, T, D].
    pub fn encode_video(&self, visual: Tensor<B, 3>, lengths: &[usize]) -> Tensor<B, 3> {
        let [b, t, _] = visual.dims();
        let x = visual + self.frame_position_embeddings.val().unsqueeze_dim::<3>(0);
        let x = self
            .temporal
            .forward(x, AttentionPattern::Window(self.attn_window));
        let adj = adj4(x.clone(), lengths);
        let dis = distance_adj::<B>(t, &x.device())
            .unsqueeze_dim::<3>(0)
            .expand([b, t, t]);
        let x1_h = quick_gelu(self.gc1.forward(x.clone(), adj.clone()));
        let x2_h = quick_gelu(self.gc3.forward(x, dis.clone()));
        let x1 = quick_gelu(self.gc2.forward(x1_h, adj));
        let x2 = quick_gelu(self.gc4.forward(x2_h, dis));
        self.linear.forward(Tensor::cat(vec![x1, x2], 2))
    }

    fn check_inputs(
        &self,
        visual: &Tensor<B, 3>,
        audio: Option<&Tensor<B, 3>>,
        lengths: &[usize],
    ) -> Result<()> {
        let [b, t, d] = visual.dims();
        let [tl, dl] = self.frame_position_embeddings.dims();
        if t != tl || d != dl {
            return Err(ModelError::Input(format!(
                "visual input is [{b}, {t}, {d}], the model needs [B, {tl}, {dl}]"
            )));
        }
        check_lengths(lengths, b, t)?;
        match (&self.temporalconvnet, audio) {
            (Some(tcn), Some(a)) => {
                let c_in = tcn
                    .network
                    .first()
                    .map(|blk| blk.conv1.weight_v.dims()[1])
                    .unwrap_or(0);
                let [ba, ta, da] = a.dims();
                if ba != b || ta != t || da != c_in {
                    return Err(ModelError::Input(format!(
                        "audio input is [{ba}, {ta}, {da}], expected [{b}, {t}, {c_in}]"
                    )));
                }
            }
            (Some(_), None) => {
                return Err(ModelError::Input("this model needs audio features".into()))
            }
            (None, Some(_)) => {
                return Err(ModelError::Input(
                    "this model takes no audio features".into(),
                ))
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Full forward pass. visual [B, T, D], audio [B, T, Da] for audio models, valid lengths (1..=T) per video.
    pub fn forward(
        &self,
        visual: Tensor<B, 3>,
        audio: Option<Tensor<B, 3>>,
        lengths: &[usize],
        text: &ClassText<B>,
    ) -> Result<ModelOutput<B>> {
        let t = self.text_features(text)?;
        self.forward_with_text_features(visual, audio, lengths, t)
    }

    /// Forward pass with precomputed class text features [C, E] (compute them once per run for prediction).
    pub fn forward_with_text_features(
        &self,
        visual: Tensor<B, 3>,
        audio: Option<Tensor<B, 3>>,
        lengths: &[usize],
        text_features: Tensor<B, 2>,
    ) -> Result<ModelOutput<B>> {
        self.check_inputs(&visual, audio.as_ref(), lengths)?;
        if let Some(a) = &self.alpha {
            let c = a.dims()[0];
            if text_features.dims()[0] != c {
                return Err(ModelError::Input(format!(
                    "{} classes, the model has {c}",
                    text_features.dims()[0]
                )));
            }
        }
        let v = self.encode_video(visual, lengths);
        let audio_features = match (&self.temporalconvnet, audio) {
            (Some(tcn), Some(a)) => Some(tcn.forward(a)),
            _ => None,
        };
        let (fused, fusion_gate, fusion_residual) = match (&self.fusion, &audio_features) {
            (Some(f), Some(a)) => {
                let o = f.forward_with_gate(v.clone(), a.clone());
                (o.fused, o.gate, o.gated_residual) // [B, T, D] each
            }
            _ => (v.clone(), None, None),
        };
        let (features, theta) = match &self.fe_net {
            Some(fe) => {
                let (mu, theta) = fe.forward(fused);
                (mu, Some(theta))
            }
            None => (fused, None),
        };
        let logits1 = self
            .classifier
            .forward(features.clone() + self.mlp2.forward(features.clone()));
        let prompted = visual_prompt(
            text_features.clone(),
            features.clone(),
            logits1.clone(),
            lengths,
            self.prompt_variant,
        );
        let prompted = prompted.clone() + self.mlp1.forward(prompted);
        let logits2 = alignment_logits(features.clone(), prompted);
        Ok(ModelOutput {
            features,
            visual_features: v,
            audio_features,
            fusion_gate,
            fusion_residual,
            theta,
            text_features,
            logits1,
            logits2,
            alpha: self.alpha.as_ref().map(|a| a.val()),
        })
    }
}

/// The model's own weights under the official keys (the CLIP text tower is converted apart, see
/// [`AvadClip::to_weights`]).
impl<B: Backend> VisitWeights for AvadClip<B> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        v.param(
            "frame_position_embeddings.weight",
            &mut self.frame_position_embeddings,
        );
        v.nested("temporal", &mut self.temporal);
        v.nested("gc1", &mut self.gc1);
        v.nested("gc2", &mut self.gc2);
        v.nested("gc3", &mut self.gc3);
        v.nested("gc4", &mut self.gc4);
        v.optional_param("disAdj.sigma", &mut self.dis_adj_sigma);
        v.nested("linear", &mut self.linear);
        v.nested("mlp1", &mut self.mlp1);
        v.nested("mlp2", &mut self.mlp2);
        v.nested("classifier", &mut self.classifier);
        v.param(
            "text_prompt_embeddings.weight",
            &mut self.text_prompt_embeddings,
        );
        v.nested("temporalconvnet", &mut self.temporalconvnet);
        v.nested("", &mut self.fusion);
        v.nested("", &mut self.fe_net);
        if let Some(a) = &mut self.alpha {
            v.param("alpha", a);
        }
    }
}
