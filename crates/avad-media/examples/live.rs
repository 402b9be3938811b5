//! Reads a live source and prints its snippets with the live clock: `cargo run -p avad-media --release --example
//! live -- URL [MAX_SNIPPETS] [STRIDE]`. Prints `MediaReader::live_start` after the first snippet, one line per
//! snippet (live times, wall clock, audio samples and peak) and the summary or the error that ended the stream.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(url) = args.get(1) else {
        eprintln!("usage: live URL [MAX_SNIPPETS] [STRIDE]");
        std::process::exit(2);
    };
    let max = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let stride = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let opts = avad_media::DecodeOptions {
        max_snippets: Some(max),
        live: Some(true),
        ..avad_media::DecodeOptions::with_stride(stride)
    };
    let t0 = std::time::Instant::now();
    let mut reader = match avad_media::open(url, &opts) {
        Ok(r) => r,
        Err(e) => {
            println!("open error after {:.2} s: {e}", t0.elapsed().as_secs_f64());
            std::process::exit(1);
        }
    };
    let info = reader.info().clone();
    println!(
        "opened in {:.2} s: {} (video {:?}, audio {:?})",
        t0.elapsed().as_secs_f64(),
        info.stream_list(),
        info.video.as_ref().map(|v| v.start_time_s),
        info.audio.as_ref().map(|a| a.start_time_s)
    );
    while let Some(s) = reader.next() {
        let s = match s {
            Ok(s) => s,
            Err(e) => {
                println!("error after {:.2} s: {e}", t0.elapsed().as_secs_f64());
                std::process::exit(1);
            }
        };
        if s.index == 0 {
            println!("live start: {:?}", reader.live_start());
        }
        let wall = s
            .wall_clock
            .and_then(|w| w.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        println!(
            "#{:3} frame {:5} {:9.4}-{:9.4}s wall {:.3} audio {:6} peak {:.4} {}",
            s.index,
            s.frame_index,
            s.start_s,
            s.end_s,
            wall,
            s.audio.len(),
            avad_media::peak(&s.audio),
            s.audio_state
        );
    }
    println!("summary: {:?}", reader.summary());
}
