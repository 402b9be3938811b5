//! A self-contained HTML report of [`DetectReport`]: inline SVG score timeline with event bands, the audio fusion
//! gate and audio share under it (models with adaptive fusion), per-class curves and PNG thumbnails (data: URIs) at
//! the event peaks. No external assets.

use crate::detect::DetectReport;

const PALETTE: &[&str] = &[
    "#888888", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#2ca02c", "#e377c2",
    "#17becf", "#bcbd22",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (c.get(1).copied().unwrap_or(0) as u32) << 8
            | c.get(2).copied().unwrap_or(0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn png_data_uri(img: &image::RgbImage) -> Option<String> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).ok()?;
    Some(format!("data:image/png;base64,{}", base64(buf.get_ref())))
}

fn polyline(xs: &[f64], ys: &[f32], x0: f64, w: f64, y0: f64, h: f64, t_max: f64) -> String {
    xs.iter()
        .zip(ys)
        .map(|(x, y)| {
            format!(
                "{:.1},{:.1}",
                x0 + x / t_max * w,
                y0 + h - (*y as f64).clamp(0.0, 1.0) * h
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders the report as one HTML page.
pub fn render_html(r: &DetectReport) -> String {
    let (w, h, x0, y0) = (1000.0f64, 220.0f64, 40.0f64, 10.0f64);
    let t_max = r.snippets.last().map(|s| s.end_s).unwrap_or(1.0).max(1e-6);
    let t0 = r
        .snippets
        .first()
        .map(|s| s.start_s)
        .unwrap_or(0.0)
        .min(0.0);
    let span = t_max - t0;
    let mid: Vec<f64> = r
        .snippets
        .iter()
        .map(|s| (s.start_s + s.end_s) / 2.0 - t0)
        .collect();
    let mut svg = String::new();
    let axes = |svg: &mut String, title: &str| {
        svg.push_str(&format!(
            "<rect x='{x0}' y='{y0}' width='{w}' height='{h}' fill='none' stroke='#ccc'/>\
             <text x='{x0}' y='{}' font-size='11'>{}</text>\
             <text x='2' y='{}' font-size='10'>1</text><text x='2' y='{}' font-size='10'>0</text>\
             <text x='{}' y='{}' font-size='10' text-anchor='end'>{:.1} s</text>",
            y0 + h + 14.0,
            esc(title),
            y0 + 8.0,
            y0 + h,
            x0 + w,
            y0 + h + 14.0,
            t_max
        ));
    };
    // timeline
    svg.push_str(&format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}'>",
        w + x0 + 10.0,
        h + 30.0
    ));
    let bands = |height: f64, opacity: &str, titled: bool| -> String {
        r.events
            .iter()
            .map(|e| {
                let band = format!(
                    "<rect x='{:.1}' y='{y0}' width='{:.1}' height='{height}' fill='#d62728' opacity='{opacity}'",
                    x0 + (e.start_s - t0) / span * w,
                    ((e.end_s - e.start_s) / span * w).max(1.0),
                );
                if titled {
                    format!(
                        "{band}><title>{} {:.1}-{:.1} s peak {:.3}</title></rect>",
                        esc(&e.class),
                        e.start_s,
                        e.end_s,
                        e.peak_score
                    )
                } else {
                    format!("{band}/>")
                }
            })
            .collect()
    };
    svg.push_str(&bands(h, "0.15", true));
    let thr_y = y0 + h - r.threshold as f64 * h;
    svg.push_str(&format!(
        "<line x1='{x0}' x2='{}' y1='{thr_y:.1}' y2='{thr_y:.1}' stroke='#999' stroke-dasharray='4'/>",
        x0 + w
    ));
    let scores: Vec<f32> = r.snippets.iter().map(|s| s.anomaly_score).collect();
    svg.push_str(&format!(
        "<polyline fill='none' stroke='#d62728' stroke-width='2' points='{}'/>",
        polyline(&mid, &scores, x0, w, y0, h, span)
    ));
    axes(&mut svg, "anomaly score (C-branch) and events");
    svg.push_str("</svg>");
    // audio fusion gate and share, on the same time axis (models with adaptive fusion only)
    let gate: Option<Vec<f32>> = r.snippets.iter().map(|s| s.audio_gate).collect();
    let share: Option<Vec<f32>> = r.snippets.iter().map(|s| s.audio_share).collect();
    let gate_html = match gate.filter(|g| !g.is_empty()) {
        Some(g) => {
            let gh = 100.0f64;
            let mut gs = format!(
                "<svg class='audio-gate' xmlns='http://www.w3.org/2000/svg' width='{}' height='{}'>\
                 <rect x='{x0}' y='{y0}' width='{w}' height='{gh}' fill='none' stroke='#ccc'/>",
                w + x0 + 10.0,
                gh + 30.0
            );
            gs.push_str(&bands(gh, "0.1", false));
            gs.push_str(&format!(
                "<polyline id='audio-gate-curve' fill='none' stroke='#2ca02c' stroke-width='2' points='{}'>\
                 <title>audio fusion gate (mean of W over D)</title></polyline>",
                polyline(&mid, &g, x0, w, y0, gh, span)
            ));
            if let Some(sh) = share {
                gs.push_str(&format!(
                    "<polyline id='audio-share-curve' fill='none' stroke='#1f77b4' stroke-width='1.5' \
                     stroke-dasharray='5,3' points='{}'><title>audio share |W*R| / (|v| + |W*R|)</title></polyline>",
                    polyline(&mid, &sh, x0, w, y0, gh, span)
                ));
            }
            gs.push_str(&format!(
                "<text x='2' y='{}' font-size='10'>1</text><text x='2' y='{}' font-size='10'>0</text>\
                 <text x='{x0}' y='{}' font-size='11'>audio fusion gate and audio share (0..1)</text></svg>",
                y0 + 8.0,
                y0 + gh,
                y0 + gh + 14.0
            ));
            format!(
                "{gs}<p class='legend'><span style='color:#2ca02c'>&#9632; audio gate</span>: mean over the \
                 feature dimensions of the teacher's fusion gate W in X<sub>av</sub> = v + W &#8857; R \
                 (v visual feature, R residual computed from visual and audio); 0 = the fusion shuts the residual out, \
                 1 = lets it fully through. <span style='color:#1f77b4'>&#9472; &#9472; audio share</span>: \
                 |W &#8857; R| / (|v| + |W &#8857; R|), the size of what fusion added relative to the visual \
                 feature; it stays low when R is small even if the gate is open.</p>"
            )
        }
        None => "<p class='legend'>audio fusion gate: not available (this model has no adaptive \
                 audio-visual fusion).</p>"
            .to_string(),
    };
    // class curves
    let mut cls = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}'>",
        w + x0 + 10.0,
        h + 30.0
    );
    let mut legend = String::new();
    for (k, name) in r.class_names.iter().enumerate() {
        let col = PALETTE[k % PALETTE.len()];
        let ys: Vec<f32> = r.snippets.iter().map(|s| s.probs[k]).collect();
        cls.push_str(&format!(
            "<polyline fill='none' stroke='{col}' stroke-width='1.5' points='{}'><title>{}</title></polyline>",
            polyline(&mid, &ys, x0, w, y0, h, span),
            esc(name)
        ));
        legend.push_str(&format!(
            "<span style='color:{col}'>&#9632; {}</span> ",
            esc(name)
        ));
    }
    axes(&mut cls, "class probabilities (A-branch)");
    cls.push_str("</svg>");
    // thumbnails at event peaks (or the global peak when there is no event)
    let mut peaks: Vec<(usize, String)> = r
        .events
        .iter()
        .map(|e| (e.peak_index, format!("{} {:.3}", e.class, e.peak_score)))
        .collect();
    if peaks.is_empty() && !r.snippets.is_empty() {
        let i = (0..r.snippets.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap_or(0);
        peaks.push((i, format!("highest score {:.3} (no event)", scores[i])));
    }
    let mut thumbs = String::new();
    for (i, label) in peaks.iter().take(24) {
        if let Some(uri) = r.thumbnails.get(*i).and_then(png_data_uri) {
            let s = &r.snippets[*i];
            thumbs.push_str(&format!(
                "<figure><img src='{uri}' alt='snippet {i}'/><figcaption>{:.1}-{:.1} s: {}</figcaption></figure>",
                s.start_s,
                s.end_s,
                esc(label)
            ));
        }
    }
    let mut events = String::from(
        "<table><tr><th>#</th><th>start s</th><th>end s</th><th>class</th><th>peak</th></tr>",
    );
    for (k, e) in r.events.iter().enumerate() {
        events.push_str(&format!(
            "<tr><td>{k}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{:.3}</td></tr>",
            e.start_s,
            e.end_s,
            esc(&e.class),
            e.peak_score
        ));
    }
    events.push_str("</table>");
    format!(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>avad detect: {title}</title>\
         <style>body{{font-family:sans-serif;margin:20px}}figure{{display:inline-block;margin:4px}}\
         figcaption{{font-size:11px}}td,th{{padding:2px 8px}}</style></head><body>\
         <h1>avad detect</h1><p>{title}<br>model: {model}; audio: {audio}; audio features: {af}; \
         {n} snippets; threshold {thr}; {ne} events</p>{svg}{gate_html}<p>{legend}</p>{cls}<h2>Events</h2>{events}\
         <h2>Frames at peaks</h2><div>{thumbs}</div></body></html>\n",
        title = esc(&r.video),
        model = esc(&r.model),
        audio = esc(&r.audio),
        af = esc(&r.audio_features),
        n = r.snippets.len(),
        thr = r.threshold,
        ne = r.events.len(),
    )
}
