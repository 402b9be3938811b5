//! Where the time of the AVadCLIP teacher goes on the CPU backend: each part of the forward pass (batch 1 = one
//! prediction chunk, and the training batch), and forward + backward of the training step's parts.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo run --release -p avad-model --example profile_forward -- [BATCH] [REPEATS]
//! ```
//!
//! Random weights of the official sizes (T = 256, D = 512, 7 classes, CLIP text 12 × 512); median and minimum
//! seconds of `REPEATS` runs (default 5) after one warm-up. The minimum is the steadier figure on a shared machine.
//! It starts with the cost of burn-flex's strided copies (a weight permute), which the model avoids in its forward.

use std::time::Instant;

use avad_model::graph::{adj4, distance_adj};
use avad_model::losses::{compute_losses, LossConfig};
use avad_model::prompt::{alignment_logits, visual_prompt};
use avad_model::temporal::AttentionPattern;
use avad_model::{AvadClip, ModelConfig};
use avad_nn::quick_gelu;
use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::Distribution;

type B = burn_flex::Flex;
type A = Autodiff<B>;

fn time<R>(name: &str, repeats: usize, mut f: impl FnMut() -> R) {
    drop(f());
    let mut s: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            drop(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    s.sort_by(f64::total_cmp);
    println!(
        "{name:<44} median {:>8.2} ms   min {:>8.2} ms",
        s[s.len() / 2] * 1e3,
        s[0] * 1e3
    );
}

fn lengths(b: usize) -> Vec<usize> {
    (0..b).map(|i| 256 - (37 * i) % 128).collect()
}

fn forward_parts<BB: Backend>(model: &AvadClip<BB>, b: usize, repeats: usize, dev: &BB::Device) {
    let t = 256;
    let visual = Tensor::<BB, 3>::random([b, t, 512], Distribution::Normal(0.0, 1.0), dev);
    let audio = Tensor::<BB, 3>::random([b, t, 512], Distribution::Normal(0.0, 1.0), dev);
    let text = Tensor::<BB, 2>::random([7, 512], Distribution::Normal(0.0, 1.0), dev);
    let len = lengths(b);
    let x = visual.clone() + model.frame_position_embeddings.val().unsqueeze_dim::<3>(0);
    time("temporal transformer", repeats, || {
        model
            .temporal
            .forward(x.clone(), AttentionPattern::Window(model.attn_window))
    });
    let blk = &model.temporal.resblocks[0];
    let xn = blk.ln_1.forward(x.clone());
    time("  block 0: ln_1", repeats, || blk.ln_1.forward(x.clone()));
    time("  block 0: window attention", repeats, || {
        blk.attn
            .forward_pattern(xn.clone(), AttentionPattern::Window(model.attn_window))
    });
    time("  block 0: mlp c_fc", repeats, || {
        blk.mlp.c_fc.forward(xn.clone())
    });
    let hmid = blk.mlp.c_fc.forward(xn.clone());
    time("  block 0: quick_gelu [.., 4D]", repeats, || {
        quick_gelu(hmid.clone())
    });
    time("  block 0: mlp c_proj", repeats, || {
        blk.mlp.c_proj.forward(hmid.clone())
    });
    time("adj4", repeats, || adj4(x.clone(), &len));
    time("distance_adj", repeats, || distance_adj::<BB>(t, dev));
    let adj = adj4(x.clone(), &len);
    let dis = distance_adj::<BB>(t, dev)
        .unsqueeze_dim::<3>(0)
        .expand([b, t, t]);
    time("gc1 (+conv residual)", repeats, || {
        quick_gelu(model.gc1.forward(x.clone(), adj.clone()))
    });
    let h = quick_gelu(model.gc1.forward(x.clone(), adj.clone()));
    time("gc2", repeats, || {
        quick_gelu(model.gc2.forward(h.clone(), adj.clone()))
    });
    time("gc3 (+conv residual)", repeats, || {
        quick_gelu(model.gc3.forward(x.clone(), dis.clone()))
    });
    time("gc4", repeats, || {
        quick_gelu(model.gc4.forward(h.clone(), dis.clone()))
    });
    time("linear(cat)", repeats, || {
        model
            .linear
            .forward(Tensor::cat(vec![h.clone(), h.clone()], 2))
    });
    time("encode_video (all of the above)", repeats, || {
        model.encode_video(visual.clone(), &len)
    });
    let tcn = model.temporalconvnet.as_ref().expect("teacher");
    time("audio TCN", repeats, || tcn.forward(audio.clone()));
    let v = model.encode_video(visual.clone(), &len);
    let a = tcn.forward(audio.clone());
    let fusion = model.fusion.as_ref().expect("teacher");
    time("fusion", repeats, || {
        fusion.forward_with_gate(v.clone(), a.clone())
    });
    let f = fusion.forward(v.clone(), a.clone());
    time("mlp2 + classifier", repeats, || {
        model
            .classifier
            .forward(f.clone() + model.mlp2.forward(f.clone()))
    });
    let l1 = model
        .classifier
        .forward(f.clone() + model.mlp2.forward(f.clone()));
    time("visual prompt + mlp1 + alignment", repeats, || {
        let p = visual_prompt(
            text.clone(),
            f.clone(),
            l1.clone(),
            &len,
            model.prompt_variant,
        );
        let p = p.clone() + model.mlp1.forward(p);
        alignment_logits(f.clone(), p)
    });
    let host = |x: &Tensor<BB, 3>| x.clone().into_data().to_vec::<f32>().expect("f32");
    let (vh, ah) = (host(&visual), host(&audio));
    time("forward_with_text_features (host inputs)", repeats, || {
        let v = Tensor::<BB, 3>::from_data(TensorData::new(vh.clone(), [b, t, 512]), dev);
        let a = Tensor::<BB, 3>::from_data(TensorData::new(ah.clone(), [b, t, 512]), dev);
        model
            .forward_with_text_features(v, Some(a), &len, text.clone())
            .expect("forward")
    });
    time("forward_with_text_features (whole)", repeats, || {
        model
            .forward_with_text_features(visual.clone(), Some(audio.clone()), &len, text.clone())
            .expect("forward")
    });
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let batch = args.first().copied().unwrap_or(8);
    let repeats = args.get(1).copied().unwrap_or(5);
    let dev = Default::default();
    let cfg = ModelConfig::avadclip_teacher_xd();
    let model = AvadClip::<A>::new(&cfg, &dev).expect("model").freeze_clip();
    let inner = model.valid();

    println!("== layout copies");
    let w5 = Tensor::<B, 3>::random([256, 512, 5], Distribution::Normal(0.0, 1.0), &dev);
    let w2 = Tensor::<B, 3>::random([512, 512, 2], Distribution::Normal(0.0, 1.0), &dev);
    time("permute+reshape [256,512,5] -> [2560,256]", 10, || {
        w5.clone().permute([2, 1, 0]).reshape([2560, 256])
    });
    time("permute+reshape [512,512,2] -> [1024,512]", 10, || {
        w2.clone().permute([2, 1, 0]).reshape([1024, 512])
    });
    time("swap_dims(0,1)+reshape [512,512,2]", 10, || {
        w2.clone().swap_dims(0, 1).reshape([1024, 512])
    });
    println!("== inference, batch 1");
    forward_parts::<B>(&inner, 1, repeats.max(10), &dev);
    println!("== inference, batch {batch}");
    forward_parts::<B>(&inner, batch, repeats, &dev);

    println!("== training (autodiff), batch {batch}");
    let ids: Vec<Vec<u32>> = (0..7).map(|i| vec![49406, 320 + i as u32, 49407]).collect();
    let text = model.class_text(&ids).expect("text");
    time("text features forward", repeats, || {
        model.text_features(&text).expect("text")
    });
    time("text features forward + backward", repeats, || {
        model.text_features(&text).expect("text").sum().backward()
    });
    let t = 256;
    let visual = Tensor::<A, 3>::random([batch, t, 512], Distribution::Normal(0.0, 1.0), &dev);
    let audio = Tensor::<A, 3>::random([batch, t, 512], Distribution::Normal(0.0, 1.0), &dev);
    let len = lengths(batch);
    let mut hot = vec![0f32; batch * 7];
    for i in 0..batch {
        hot[i * 7 + if i % 2 == 0 { 0 } else { 1 + (i / 2) % 6 }] = 1.0;
    }
    let labels = Tensor::<A, 2>::from_data(TensorData::new(hot, [batch, 7]), &dev);
    let tf = model.text_features(&text).expect("text").detach();
    time("model forward (text given)", repeats, || {
        model
            .forward_with_text_features(visual.clone(), Some(audio.clone()), &len, tf.clone())
            .expect("forward")
    });
    time("model forward + losses + backward", repeats, || {
        let out = model
            .forward_with_text_features(visual.clone(), Some(audio.clone()), &len, tf.clone())
            .expect("forward");
        compute_losses(
            &out,
            labels.clone(),
            &len,
            &LossConfig::avadclip_teacher(),
            None,
        )
        .expect("losses")
        .total
        .backward()
    });
    let x = visual.clone() + model.frame_position_embeddings.val().unsqueeze_dim::<3>(0);
    time("temporal fwd + bwd", repeats, || {
        model
            .temporal
            .forward(x.clone(), AttentionPattern::Window(model.attn_window))
            .sum()
            .backward()
    });
    time("encode_video fwd + bwd", repeats, || {
        model.encode_video(visual.clone(), &len).sum().backward()
    });
    let tcn = model.temporalconvnet.as_ref().expect("teacher");
    time("audio TCN fwd + bwd", repeats, || {
        tcn.forward(audio.clone()).sum().backward()
    });
    time("full step forward + backward", repeats, || {
        let out = model
            .forward(visual.clone(), Some(audio.clone()), &len, &text)
            .expect("forward");
        compute_losses(
            &out,
            labels.clone(),
            &len,
            &LossConfig::avadclip_teacher(),
            None,
        )
        .expect("losses")
        .total
        .backward()
    });
}
