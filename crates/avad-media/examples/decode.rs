//! Decodes one file and prints its snippets: `cargo run -p avad-media --release --example decode -- FILE [STRIDE]
//! [--dump-audio OUT.f32] [--dump-frames OUT.rgb] [--quiet] [--consumer-ms N]`. Prints the wall time of the whole
//! decode at the end; with `--consumer-ms N` it simulates an encoder busy N ms per snippet and reports how long it
//! waited for the decoder in total.

use sha2::{Digest, Sha256};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: decode FILE [STRIDE] [--dump-audio F] [--dump-frames F] [--quiet]");
        std::process::exit(2);
    };
    let stride = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let quiet = args.iter().any(|a| a == "--quiet");
    let consumer_ms: u64 = flag("--consumer-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut waited = std::time::Duration::ZERO;
    let mut audio_out =
        flag("--dump-audio").map(|f| std::fs::File::create(f).expect("create audio dump"));
    let mut frame_out =
        flag("--dump-frames").map(|f| std::fs::File::create(f).expect("create frame dump"));
    let t0 = std::time::Instant::now();
    let mut reader = match avad_media::open(path, &avad_media::DecodeOptions::with_stride(stride)) {
        Ok(r) => r,
        Err(e) => {
            println!("open error: {e}");
            return;
        }
    };
    println!("{:#?}", reader.info());
    loop {
        let tw = std::time::Instant::now();
        let Some(s) = reader.next() else { break };
        waited += tw.elapsed();
        if consumer_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(consumer_ms));
        }
        match s {
            Ok(s) => {
                if !quiet {
                    let h = Sha256::digest(&s.frame.data);
                    println!(
                        "#{:3} f{:5} {:9.4}-{:9.4}s {}x{} audio {:6} {:8} peak {:.5} sha {:x}",
                        s.index,
                        s.frame_index,
                        s.start_s,
                        s.end_s,
                        s.frame.width,
                        s.frame.height,
                        s.audio.len(),
                        s.audio_state,
                        avad_media::peak(&s.audio),
                        h
                    );
                }
                if let Some(f) = audio_out.as_mut() {
                    for v in &s.audio {
                        f.write_all(&v.to_le_bytes()).expect("write audio");
                    }
                }
                if let Some(f) = frame_out.as_mut() {
                    f.write_all(&s.frame.data).expect("write frames");
                }
            }
            Err(e) => println!("error: {e}"),
        }
    }
    println!("{:#?}", reader.summary());
    println!(
        "wall {:.3} s, consumer waited {:.3} s",
        t0.elapsed().as_secs_f64(),
        waited.as_secs_f64()
    );
}
