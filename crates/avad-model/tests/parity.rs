//! Parity with the official PyTorch models (fixtures from `tools/make_model_fixtures.py`, seeded random weights,
//! reduced width D=32): forward outputs ≤ 1e-4 max abs error, losses ≤ 1e-5, valid lengths 97, 256 and 256 from a
//! 400-row `process_feat` average.

mod common;

use avad_model::losses::{clas2, clasm, clasm_focal, text_divergence};
use avad_model::{compute_losses, ukd_loss, AvadClip, LossConfig};
use burn::prelude::*;
use common::*;

const FWD_TOL: f32 = 1e-4;
const LOSS_TOL: f32 = 1e-5;

fn load_model(name: &str) -> AvadClip<B> {
    let cfg = fixture_config(name);
    let sd = fixture_state_dict(name);
    let (model, report) = AvadClip::<B>::from_weights(&cfg, &sd, &device()).expect("import");
    assert!(
        report.unused_keys.is_empty(),
        "unused keys: {:?}",
        report.unused_keys
    );
    // The tiny ViT of the fixture: its keys are present and ignored.
    assert!(report.ignored_clip_keys > 0);
    assert!(
        sd.keys()
            .filter(|k| k.starts_with("clipmodel.visual."))
            .count()
            == report.ignored_clip_keys - 1
    );
    model
}

#[test]
fn vadclip_forward_and_losses_match_pytorch() {
    let io = Io::load("vadclip");
    let model = load_model("vadclip");
    let lengths = io.lengths();
    assert_eq!(lengths, vec![97, 256, 256]);
    let text = model.class_text(&io.token_ids()).unwrap();

    // Prompt assembly (official row indexing) and the EOT slots.
    let (emb, slots) = avad_model::prompt::assemble_prompt(
        model.text_prompt_embeddings.val(),
        &text,
        model.prompt_prefix,
        model.prompt_postfix,
    )
    .unwrap();
    assert_close(&io, "prompt_embeddings", &emb, 1e-7);
    let want_slots: Vec<usize> = io
        .data("prompt_eot_positions")
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(slots, want_slots);

    let visual: Tensor<B, 3> = io.tensor("visual");
    let v = model.encode_video(visual.clone(), &lengths);
    assert_close(&io, "encode_video", &v, FWD_TOL);

    let out = model
        .forward_vadclip(visual.clone(), &lengths, &text)
        .unwrap();
    assert_close(&io, "text_features", &out.text_features, FWD_TOL);
    assert_close(&io, "logits1", &out.logits1, FWD_TOL);
    assert_close(&io, "logits2", &out.logits2, FWD_TOL);

    let labels: Tensor<B, 2> = io.tensor("labels");
    let l1 = clas2(out.logits1.clone(), labels.clone(), &lengths).unwrap();
    let l2 = clasm(out.logits2.clone(), labels.clone(), &lengths).unwrap();
    let l3 = text_divergence(out.text_features.clone(), 6.0);
    assert_scalar(&io, "loss1", &l1, LOSS_TOL);
    assert_scalar(&io, "loss2", &l2, LOSS_TOL);
    assert_scalar(&io, "loss3", &l3, LOSS_TOL);

    let full = model.forward(visual, None, &lengths, &text).unwrap();
    let losses = compute_losses(&full, labels, &lengths, &LossConfig::vadclip_xd(), None).unwrap();
    assert_scalar(&io, "loss_total", &losses.total, LOSS_TOL);
}

#[test]
fn avadclip_teacher_forward_and_losses_match_pytorch() {
    let io = Io::load("avadclip_teacher");
    let model = load_model("avadclip_teacher");
    let lengths = io.lengths();
    let text = model.class_text(&io.token_ids()).unwrap();
    let visual: Tensor<B, 3> = io.tensor("visual");
    let audio: Tensor<B, 3> = io.tensor("audio");

    let tcn = model
        .temporalconvnet
        .as_ref()
        .unwrap()
        .forward(audio.clone());
    assert_close(&io, "audio_tcn", &tcn, FWD_TOL);
    let v = model.encode_video(visual.clone(), &lengths);
    assert_close(&io, "encode_video", &v, FWD_TOL);

    let out = model
        .forward_teacher(visual.clone(), audio.clone(), &lengths, &text)
        .unwrap();
    assert_close(&io, "x_av", &out.x_av, FWD_TOL);
    assert_close(&io, "text_features", &out.text_features, FWD_TOL);
    assert_close(&io, "logits1", &out.logits1, FWD_TOL);
    assert_close(&io, "logits2", &out.logits2, FWD_TOL);
    assert_close(&io, "alpha", &out.alpha, 0.0);

    let labels: Tensor<B, 2> = io.tensor("labels");
    let l2 = clasm_focal(
        out.logits2.clone(),
        labels.clone(),
        &lengths,
        out.alpha.clone(),
        2.0,
    )
    .unwrap();
    assert_scalar(&io, "loss2", &l2, LOSS_TOL);
    let full = model.forward(visual, Some(audio), &lengths, &text).unwrap();
    let losses = compute_losses(
        &full,
        labels,
        &lengths,
        &LossConfig::avadclip_teacher(),
        None,
    )
    .unwrap();
    assert_scalar(&io, "loss1", &losses.loss1, LOSS_TOL);
    assert_scalar(&io, "loss2", &losses.loss2, LOSS_TOL);
    assert_scalar(&io, "loss3", &losses.loss3, LOSS_TOL);
    assert_scalar(&io, "loss_total", &losses.total, LOSS_TOL);
}

#[test]
fn avadclip_student_forward_and_ukd_match_pytorch() {
    let io = Io::load("avadclip_student");
    let model = load_model("avadclip_student");
    let teacher = load_model("avadclip_teacher");
    let lengths = io.lengths();
    let text = model.class_text(&io.token_ids()).unwrap();
    let visual: Tensor<B, 3> = io.tensor("visual");
    let audio: Tensor<B, 3> = io.tensor("audio");

    let t_out = teacher
        .forward(visual.clone(), Some(audio), &lengths, &text)
        .unwrap();
    assert_close(&io, "teacher_x_av", &t_out.features, FWD_TOL);

    let out = model.forward(visual, None, &lengths, &text).unwrap();
    assert_close(&io, "mu", &out.features, FWD_TOL);
    assert_close(&io, "theta", out.theta.as_ref().unwrap(), FWD_TOL);
    assert_close(&io, "text_features", &out.text_features, FWD_TOL);
    assert_close(&io, "logits1", &out.logits1, FWD_TOL);
    assert_close(&io, "logits2", &out.logits2, FWD_TOL);

    // UKD's raw scale is large (θ ≈ −x): compare it relatively; with the fixture's own X_av.
    let x_av: Tensor<B, 3> = io.tensor("teacher_x_av");
    let l4 = ukd_loss(
        x_av.clone(),
        out.features.clone(),
        out.theta.clone().unwrap(),
    );
    let (g, w) = (scalar_of(&l4), io.scalar("loss4"));
    eprintln!("loss4: got {g} want {w}");
    assert!(((g - w) / w).abs() < tol(1e-5), "loss4 {g} vs {w}");

    let labels: Tensor<B, 2> = io.tensor("labels");
    let losses = compute_losses(
        &out,
        labels,
        &lengths,
        &LossConfig::avadclip_student(1e-8),
        Some(x_av),
    )
    .unwrap();
    assert_scalar(&io, "loss1", &losses.loss1, LOSS_TOL);
    assert_scalar(&io, "loss2", &losses.loss2, LOSS_TOL);
    assert_scalar(&io, "loss3", &losses.loss3, LOSS_TOL);
    assert_scalar(&io, "loss_total", &losses.total, LOSS_TOL);
}

#[test]
fn state_dict_round_trip_keeps_official_keys() {
    let name = "avadclip_teacher";
    let cfg = fixture_config(name);
    let sd = fixture_state_dict(name);
    let (model, _) = AvadClip::<B>::from_weights(&cfg, &sd, &device()).unwrap();
    let out = model.to_weights();
    // Every exported key exists in the official dict with identical values.
    for (k, v) in out.iter() {
        let orig = sd
            .get(k)
            .unwrap_or_else(|| panic!("exported key {k} not in the official state dict"));
        assert_eq!(orig.shape, v.shape, "{k}");
        assert_eq!(
            orig.clone().convert::<f32>().to_vec::<f32>().unwrap(),
            v.clone().to_vec::<f32>().unwrap(),
            "{k}"
        );
    }
    // Every official non-vision key is exported.
    for k in sd.keys() {
        if !k.starts_with("clipmodel.visual.") && k != "clipmodel.logit_scale" {
            assert!(out.get(k).is_some(), "official key {k} not exported");
        }
    }
    // Safetensors bytes round trip and re-import.
    let dir = std::env::temp_dir().join(format!("avad-model-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    out.save_safetensors(&path).unwrap();
    let back = avad_nn::WeightMap::load(&path).unwrap();
    let (_m2, rep) = AvadClip::<B>::from_weights(&cfg, &back, &device()).unwrap();
    assert!(rep.unused_keys.is_empty() && rep.ignored_clip_keys == 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn avad_clip_tokenizer_gives_the_fixture_token_ids() {
    let io = Io::load("vadclip");
    let names: Vec<String> = config_json()["class_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let tok = avad_clip::Tokenizer::new();
    let ids: Vec<Vec<u32>> = names.iter().map(|n| tok.tokenize(n).to_vec()).collect();
    assert_eq!(ids, io.token_ids());
}

#[test]
fn pytorch_pickles_read_like_the_safetensors_fixture() {
    let st = fixture_state_dict("vadclip");
    for file in ["sample_state_dict.pth", "sample_checkpoint.pth"] {
        let pth = avad_nn::WeightMap::load(fixture_dir().join(file)).expect(file);
        assert_eq!(pth.len(), 5, "{file}: {:?}", pth.keys().collect::<Vec<_>>());
        for (k, v) in pth.iter() {
            let want = st.get(k).unwrap_or_else(|| panic!("{k}"));
            assert_eq!(v.shape, want.shape, "{file}: {k}");
            assert_eq!(
                v.clone().convert::<f32>().to_vec::<f32>().unwrap(),
                want.clone().convert::<f32>().to_vec::<f32>().unwrap(),
                "{file}: {k}"
            );
        }
    }
    assert!(avad_nn::WeightMap::load(fixture_dir().join("config.json")).is_err());
}
