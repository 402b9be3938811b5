//! Uploaded videos for playback: byte ranges (`Range: bytes=…`, `206 Partial Content`), and media links — short-lived
//! URLs that a `<video>` element can load without an `Authorization` header.
//!
//! A media link is `/media/{ticket}` with ticket `v1.{job id}.{expiry ms}.{token id}.{mac}`: the MAC is
//! HMAC-SHA-256 over the job, the expiry and the token id, keyed by the stored hash of the token that asked for the
//! link. Checking one needs only the database every API process shares (no server secret to distribute), a
//! revoked token's links stop working at once, and a link opens one job's video until it expires.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How long a media link opens its video, milliseconds (a report page asks for a fresh one each time it opens).
pub const LINK_LIFETIME_MS: i64 = 60 * 60 * 1000;

/// The parts of a media ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The job whose video it opens.
    pub job: String,
    /// Unix ms after which it is refused.
    pub expires_ms: i64,
    /// The token that asked for it.
    pub token_id: String,
    mac: Vec<u8>,
}

fn mac_of(key: &str, job: &str, expires_ms: i64, token_id: &str) -> Vec<u8> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    m.update(format!("avad-media-v1|{job}|{expires_ms}|{token_id}").as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A ticket for `job`'s video until `expires_ms`, asked for by the token `token_id` whose stored hash is `key`.
pub fn issue(key: &str, job: &str, expires_ms: i64, token_id: &str) -> String {
    let mac = mac_of(key, job, expires_ms, token_id);
    format!(
        "v1.{job}.{expires_ms}.{token_id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
    )
}

impl Ticket {
    /// The parts of `s`, or `None` when it is not shaped like a ticket.
    pub fn parse(s: &str) -> Option<Ticket> {
        let mut it = s.split('.');
        let (v, job, exp, token_id, mac) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        if v != "v1" || it.next().is_some() {
            return None;
        }
        let job = uuid::Uuid::parse_str(job).ok()?.to_string();
        if token_id.is_empty()
            || token_id.len() > 64
            || !token_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        Some(Ticket {
            job,
            expires_ms: exp.parse().ok()?,
            token_id: token_id.to_string(),
            mac: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(mac)
                .ok()?,
        })
    }

    /// True when the MAC is right for the key `key` (compared in constant time) and `now_ms` is before the expiry.
    pub fn is_valid(&self, key: &str, now_ms: i64) -> bool {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
            .expect("HMAC takes any key length");
        m.update(
            format!(
                "avad-media-v1|{}|{}|{}",
                self.job, self.expires_ms, self.token_id
            )
            .as_bytes(),
        );
        m.verify_slice(&self.mac).is_ok() && now_ms < self.expires_ms
    }
}

/// The `Content-Type` of a video by its client-given file name's extension (`application/octet-stream` when
/// unknown; browsers sniff media anyway).
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "ogv" | "ogg" => "video/ogg",
        "ts" => "video/mp2t",
        _ => "application/octet-stream",
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No (usable) range: the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A range outside the file: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range (`a-b`, `a-`, `-n`); several ranges or other units are answered with the whole
/// file, as RFC 9110 allows.
pub fn parse_range(value: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return RangeAsk::Unsatisfiable,
            Ok(n) => Some((len.saturating_sub(n), len.saturating_sub(1))),
            Err(_) => None,
        },
        (false, _) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(len.saturating_sub(1)))),
            (Ok(s), _) if b.is_empty() => Some((s, len.saturating_sub(1))),
            _ => None,
        },
        _ => None,
    };
    match parsed {
        None => RangeAsk::Whole,
        Some((s, _)) if len == 0 || s >= len => RangeAsk::Unsatisfiable,
        Some((s, e)) => RangeAsk::Part(s, e),
    }
}

/// Answers a `GET` of the file at `path` as `content_type`, honouring a single byte range (`206` with
/// `Content-Range`, `416` outside the file), streamed in 64 KiB pieces. `None` when the file cannot be opened.
pub async fn serve_file(
    path: &Path,
    headers: &HeaderMap,
    content_type: &'static str,
) -> Option<Response> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let len = file.metadata().await.ok()?.len();
    let ask = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, end) = match ask {
        RangeAsk::Whole => (StatusCode::OK, 0, len.saturating_sub(1)),
        RangeAsk::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        RangeAsk::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Some(r);
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    file.seek(SeekFrom::Start(start)).await.ok()?;
    let stream = futures_util::stream::unfold((file, count), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; left.min(64 << 10) as usize];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_open_one_job_until_they_expire_and_only_with_their_key() {
        let job = "0193a0b0-0000-7000-8000-000000000001";
        let t = issue("key-a", job, 2_000, "tok1");
        let p = Ticket::parse(&t).unwrap();
        assert_eq!(
            (p.job.as_str(), p.expires_ms, p.token_id.as_str()),
            (job, 2_000, "tok1")
        );
        assert!(p.is_valid("key-a", 1_999));
        assert!(!p.is_valid("key-a", 2_000), "expired");
        assert!(!p.is_valid("key-b", 1_000), "another token's key");
        // Any change to the parts breaks the MAC.
        let other = t.replace("000000000001", "000000000002");
        assert!(!Ticket::parse(&other).unwrap().is_valid("key-a", 1_000));
        let longer = t.replace(".2000.", ".9999.");
        assert!(!Ticket::parse(&longer).unwrap().is_valid("key-a", 1_000));
        for bad in [
            "",
            "v1",
            "v2.x.1.t.m",
            &format!("{t}.x"),
            "v1.not-a-uuid.1.t.AAAA",
            "v1.../x.1.t.AA",
        ] {
            assert!(Ticket::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ranges_parse_like_rfc_9110() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Whole);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("a.MP4"), "video/mp4");
        assert_eq!(content_type("clip.webm"), "video/webm");
        assert_eq!(content_type("<script>alert(1)</script>.mp4"), "video/mp4");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
