//! How much of the student's gradient comes from the UKD term (measure the raw loss4 and the gradient share of each
//! term before concluding anything about a UKD weight). For one batch of the training list it computes, separately, the
//! gradient of the task losses (`loss1 + loss2 + 1e-4·loss3`) and of the raw UKD loss against the frozen teacher's
//! X_av, and prints their norms on representative student parameters, and the share `w·|g_ukd| / (|g_task| +
//! w·|g_ukd|)` for several weights w.
//!
//! ```sh
//! cargo run --release -p avad-train --example ukd_gradient_share -- TEACHER.json STUDENT.json TRAIN.csv [ROWS]
//! ```
//! STUDENT is a student checkpoint (e.g. an `avad distill` output's model.json, or its first-epoch weights).

use std::path::Path;

use avad_infer::class_token_ids;
use avad_infer::StudentInput;
use avad_model::{compute_losses, AvadClip};
use avad_train::lists::load_training_set;
use avad_train::text::class_names;
use avad_train::{Teacher, TrainCheckpoint};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

type I = burn_flex::Flex;
type AB = burn::backend::Autodiff<I>;

fn norm<const D: usize>(t: Option<Tensor<I, D>>) -> f64 {
    t.map(|g| {
        g.into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap()
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
    })
    .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: ukd_gradient_share TEACHER.json STUDENT.json TRAIN.csv [ROWS]");
        std::process::exit(2);
    }
    let rows: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let dev = Default::default();
    let teacher = Teacher::<I>::load(Path::new(&args[1]), &dev)?;
    let ck = TrainCheckpoint::open(Path::new(&args[2]))?;
    let cfg = ck
        .meta
        .train_config
        .clone()
        .ok_or("the student checkpoint has no train_config")?;
    let (model, _) = AvadClip::<AB>::from_weights(&cfg.model, &ck.load_weights()?, &dev)?;
    let model = model.freeze_clip();
    let data = load_training_set(
        Path::new(&args[3]),
        None,
        cfg.labels,
        cfg.model.visual_length,
        teacher.config.visual_width,
        teacher.audio_width(),
        usize::MAX,
    )?;
    let step = (data.len() / rows).max(1);
    let idx: Vec<usize> = (0..data.len()).step_by(step).take(rows).collect();
    let batch = data.batch::<AB>(&idx, &dev)?;
    let x_av = teacher.features(
        batch.visual.clone().inner(),
        batch.audio.clone().map(|a| a.inner()),
        &batch.lengths,
    )?;
    let text = model.class_text(&class_token_ids(&class_names(cfg.labels)))?;
    let input = match cfg.modality {
        StudentInput::Visual => batch.visual.clone(),
        StudentInput::Audio => batch.audio.clone().ok_or("no audio")?,
    };
    let mut loss_cfg = cfg.loss.clone();
    loss_cfg.ukd_weight = 1.0;

    // Two forward passes so that each backward has its own graph.
    let run = |ukd: bool| -> Result<(f64, <AB as AutodiffBackend>::Gradients), Box<dyn std::error::Error>> {
        let out = model.forward(input.clone(), None, &batch.lengths, &text)?;
        let l = compute_losses(
            &out,
            batch.labels.clone(),
            &batch.lengths,
            &loss_cfg,
            Some(Tensor::from_inner(x_av.clone())),
        )?;
        let t = if ukd {
            l.loss4.ok_or("no UKD term")?
        } else {
            l.loss1 + l.loss2 + l.loss3 * loss_cfg.text_divergence_weight
        };
        let v = t.clone().inner().into_data().convert::<f64>().to_vec::<f64>().unwrap()[0];
        Ok((v, t.backward()))
    };
    let (task, g_task) = run(false)?;
    let (raw_ukd, g_ukd) = run(true)?;
    println!(
        "{} rows of {}: task loss {task:.4}, raw UKD loss {raw_ukd:.4e}",
        idx.len(),
        args[3]
    );

    let fe = model.fe_net.as_ref().ok_or("not a student")?;
    let p2 = |p: &Param<Tensor<AB, 2>>| (norm(p.val().grad(&g_task)), norm(p.val().grad(&g_ukd)));
    let p3 = |p: &Param<Tensor<AB, 3>>| (norm(p.val().grad(&g_task)), norm(p.val().grad(&g_ukd)));
    let params = [
        (
            "fe_net.conv.2.conv.0.weight (mean branch, last)",
            p3(&fe.conv[2].weight),
        ),
        (
            "fe_net.conv.0.conv.0.weight (mean branch, first)",
            p3(&fe.conv[0].weight),
        ),
        (
            "linear.weight (video encoder output)",
            p2(&model.linear.weight),
        ),
        (
            "classifier.weight (C-branch head)",
            p2(&model.classifier.weight),
        ),
        (
            "fe_net.theta.theta.0.weight (log-variance head)",
            p3(&fe.theta_0.weight),
        ),
    ];
    let weights = [1e-8, 1e-7, 1e-5, 1e-3, 1e-1];
    print!("| parameter | ‖g_task‖ | ‖g_UKD‖ (raw) |");
    for w in weights {
        print!(" share at {w:e} |");
    }
    println!();
    print!("|---|---|---|");
    for _ in weights {
        print!("---|");
    }
    println!();
    for (name, (gt, gu)) in params {
        print!("| {name} | {gt:.3e} | {gu:.3e} |");
        for w in weights {
            let s = if gt + w * gu > 0.0 {
                w * gu / (gt + w * gu)
            } else {
                0.0
            };
            print!(" {:.2e} |", s);
        }
        println!();
    }
    Ok(())
}
