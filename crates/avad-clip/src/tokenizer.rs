//! OpenAI CLIP's `SimpleTokenizer`: text cleaning, the pre-tokenising regex, byte-level BPE over
//! `bpe_simple_vocab_16e6.txt.gz` (shipped in `assets/`), SOT 49406 / EOT 49407, context 77.
//!
//! Text cleaning follows `basic_clean` + `whitespace_clean` + `lower()`. `ftfy.fix_text` is implemented only in
//! part (see [`fix_text`]): HTML entity unescaping, terminal escape removal, Latin ligatures, full-width
//! characters, curly quotes, line breaks, control characters and NFC. Not implemented: mojibake repair
//! (`fix_encoding`, e.g. `Ã©` → `é`), C1-control → Windows-1252 mapping, and surrogate fixing. The HTML entity
//! table is a subset of HTML5's (the common named entities plus every numeric reference).

use std::collections::HashMap;
use std::io::Read;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// Start-of-text token id.
pub const SOT_TOKEN: u32 = 49406;
/// End-of-text token id.
pub const EOT_TOKEN: u32 = 49407;
/// CLIP's context length.
pub const CONTEXT_LENGTH: usize = 77;

static VOCAB_GZ: &[u8] = include_bytes!("../assets/bpe_simple_vocab_16e6.txt.gz");

/// Longest pre-token (in chars) merged as one word; a longer one (no real text has such words) is cut into pieces
/// of this length first, which keeps BPE's quadratic merge loop bounded on hostile text.
pub const MAX_WORD_CHARS: usize = 1024;

/// Byte-level BPE tokenizer identical to OpenAI CLIP's `SimpleTokenizer` (within the documented text-fixing subset).
#[derive(Debug, Clone)]
pub struct Tokenizer {
    decoder: Vec<String>,
    /// Merge rules on vocabulary ids: (left, right) → (rank, merged id).
    ranks: HashMap<(u32, u32), (usize, u32)>,
    /// Ids of the 256 byte symbols, without and with the `</w>` word end.
    byte_ids: [(u32, u32); 256],
    byte_encoder: [char; 256],
    pat: Regex,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

/// GPT-2's reversible byte → printable-char table, plus the chars in Python's dict order (printables first).
fn bytes_to_unicode() -> ([char; 256], Vec<char>) {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut out = ['\0'; 256];
    let mut order = Vec::with_capacity(256);
    for (b, c) in bs.into_iter().zip(cs) {
        let ch = char::from_u32(c).expect("valid");
        out[b as usize] = ch;
        order.push(ch);
    }
    (out, order)
}

impl Tokenizer {
    /// Builds the tokenizer from the embedded vocabulary.
    pub fn new() -> Self {
        let mut text = String::new();
        flate2::read::GzDecoder::new(VOCAB_GZ)
            .read_to_string(&mut text)
            .expect("embedded BPE vocabulary is valid gzip UTF-8");
        let lines: Vec<&str> = text.split('\n').collect();
        let merges: Vec<(String, String)> = lines[1..49152 - 256 - 2 + 1]
            .iter()
            .map(|l| {
                let mut it = l.split(' ');
                (
                    it.next().unwrap_or_default().to_string(),
                    it.next().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let (byte_encoder, order) = bytes_to_unicode();
        let mut vocab: Vec<String> = order.iter().map(|c| c.to_string()).collect();
        vocab.extend(order.iter().map(|c| format!("{c}</w>")).collect::<Vec<_>>());
        for (a, b) in &merges {
            vocab.push(format!("{a}{b}"));
        }
        vocab.push("<|startoftext|>".into());
        vocab.push("<|endoftext|>".into());
        let encoder: HashMap<String, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        // Every merge's parts and result are vocabulary entries by construction; a merge whose parts are not could
        // never apply (words are always made of vocabulary entries), so skipping it changes nothing.
        let mut ranks = HashMap::with_capacity(merges.len());
        for (i, (a, b)) in merges.iter().enumerate() {
            if let (Some(&x), Some(&y), Some(&m)) = (
                encoder.get(a),
                encoder.get(b),
                encoder.get(&format!("{a}{b}")),
            ) {
                // A repeated merge keeps its last rank, as Python's `dict(zip(merges, range(...)))` does.
                ranks.insert((x, y), (i, m));
            }
        }
        let mut byte_ids = [(0u32, 0u32); 256];
        for (b, c) in byte_encoder.iter().enumerate() {
            byte_ids[b] = (encoder[&c.to_string()], encoder[&format!("{c}</w>")]);
        }
        let pat = Regex::new(
            r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .expect("valid regex");
        Self {
            decoder: vocab,
            ranks,
            byte_ids,
            byte_encoder,
            pat,
        }
    }

    /// Vocabulary size (49408).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// BPE of one pre-token given as raw bytes (each byte one symbol, the last one ending the word), appended to
    /// `out` as vocabulary ids. Works on ids: the lowest-rank adjacent pair is merged everywhere, left to right, until
    /// no pair has a rank (OpenAI's `bpe`, without its string copies).
    fn bpe_into(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let Some((&last, head)) = bytes.split_last() else {
            return;
        };
        let mut word: Vec<u32> = head.iter().map(|&b| self.byte_ids[b as usize].0).collect();
        word.push(self.byte_ids[last as usize].1);
        let mut merged = Vec::with_capacity(word.len());
        while word.len() >= 2 {
            let best = word
                .windows(2)
                .filter_map(|w| self.ranks.get(&(w[0], w[1])).map(|&r| (r, w[0], w[1])))
                .min_by_key(|&((rank, _), _, _)| rank);
            let Some(((_, id), first, second)) = best else {
                break;
            };
            merged.clear();
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(id);
                    i += 2;
                } else {
                    merged.push(word[i]);
                    i += 1;
                }
            }
            std::mem::swap(&mut word, &mut merged);
        }
        out.extend_from_slice(&word);
    }

    /// BPE ids of the cleaned text, without SOT/EOT.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_up_to(text, usize::MAX)
    }

    /// BPE ids of the cleaned text, stopping once at least `limit` ids are produced (the ids are those of
    /// [`Tokenizer::encode`] cut later; truncating callers need no more).
    pub fn encode_up_to(&self, text: &str, limit: usize) -> Vec<u32> {
        let text = clean_text(text);
        let mut out = Vec::new();
        for m in self.pat.find_iter(&text) {
            let t = m.as_str();
            if t == "<|startoftext|>" {
                out.push(SOT_TOKEN);
            } else if t == "<|endoftext|>" {
                out.push(EOT_TOKEN);
            } else {
                // Cut an absurdly long word at char boundaries (see MAX_WORD_CHARS).
                let mut rest = t;
                while !rest.is_empty() {
                    let cut = rest
                        .char_indices()
                        .nth(MAX_WORD_CHARS)
                        .map_or(rest.len(), |(i, _)| i);
                    self.bpe_into(&rest.as_bytes()[..cut], &mut out);
                    rest = &rest[cut..];
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    /// `[SOT, ids…, EOT]` truncated to `context_length` with EOT kept last (open_clip `truncate=True` / HF).
    pub fn tokenize_ids(&self, text: &str, context_length: usize) -> Vec<u32> {
        let mut ids = vec![SOT_TOKEN];
        ids.extend(self.encode_up_to(text, context_length));
        ids.push(EOT_TOKEN);
        if ids.len() > context_length {
            ids.truncate(context_length);
            if let Some(last) = ids.last_mut() {
                *last = EOT_TOKEN;
            }
        }
        ids
    }

    /// The 77 ids of one text (SOT…EOT, zero padded), as `clip.tokenize(text, truncate=True)[0]`.
    pub fn tokenize(&self, text: &str) -> [u32; CONTEXT_LENGTH] {
        let mut row = [0u32; CONTEXT_LENGTH];
        for (r, id) in row.iter_mut().zip(self.tokenize_ids(text, CONTEXT_LENGTH)) {
            *r = id;
        }
        row
    }

    /// `[C, 77]` Int tensor of several texts.
    pub fn tokenize_batch<B: Backend>(
        &self,
        texts: &[&str],
        device: &B::Device,
    ) -> Tensor<B, 2, Int> {
        let mut v = Vec::with_capacity(texts.len() * CONTEXT_LENGTH);
        for t in texts {
            v.extend(self.tokenize(t).iter().map(|&x| x as i64));
        }
        Tensor::from_data(TensorData::new(v, [texts.len(), CONTEXT_LENGTH]), device)
    }

    /// Decodes ids back to text (`</w>` → space), for debugging.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut byte_decoder = HashMap::new();
        for (b, c) in self.byte_encoder.iter().enumerate() {
            byte_decoder.insert(*c, b as u8);
        }
        let s: String = ids
            .iter()
            .filter_map(|&i| self.decoder.get(i as usize))
            .map(String::as_str)
            .collect();
        let bytes: Vec<u8> = s
            .chars()
            .filter_map(|c| byte_decoder.get(&c).copied())
            .collect();
        String::from_utf8_lossy(&bytes).replace("</w>", " ")
    }
}

/// CLIP's `whitespace_clean(basic_clean(text)).lower()`.
pub fn clean_text(text: &str) -> String {
    let t = fix_text(text);
    let t = html_unescape(&html_unescape(&t));
    let words: Vec<&str> = t
        .split(is_py_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ").to_lowercase()
}

/// Python's `str.isspace` set (Unicode White_Space plus U+001C..U+001F).
fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The subset of `ftfy.fix_text` (ftfy 6 defaults) that CLIP text realistically needs; see the module docs.
pub fn fix_text(text: &str) -> String {
    // unescape_html="auto": only when the text has no '<'; ftfy requires the ';'.
    let mut t = if text.contains('<') {
        text.to_string()
    } else {
        unescape_entities(text, true)
    };
    // remove_terminal_escapes
    if t.contains('\u{1b}') {
        let re = Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("valid regex");
        t = re.replace_all(&t, "").into_owned();
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // fix_latin_ligatures
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'ŉ' => out.push_str("ʼn"),
            'Ǳ' => out.push_str("DZ"),
            'ǲ' => out.push_str("Dz"),
            'ǳ' => out.push_str("dz"),
            'Ǆ' => out.push_str("DŽ"),
            'ǅ' => out.push_str("Dž"),
            'ǆ' => out.push_str("dž"),
            'Ǉ' => out.push_str("LJ"),
            'ǈ' => out.push_str("Lj"),
            'ǉ' => out.push_str("lj"),
            'Ǌ' => out.push_str("NJ"),
            'ǋ' => out.push_str("Nj"),
            'ǌ' => out.push_str("nj"),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' => out.push_str("ſt"),
            'ﬆ' => out.push_str("st"),
            // fix_character_width: ideographic space and the half/full-width forms block → NFKC.
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FFEF}' => out.extend(std::iter::once(c).nfkc()),
            // uncurl_quotes
            '\u{02BC}' | '\u{2018}'..='\u{201B}' => out.push('\''),
            '\u{201C}'..='\u{201F}' => out.push('"'),
            // fix_line_breaks
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{2028}' | '\u{2029}' | '\u{0085}' => out.push('\n'),
            // remove_control_chars
            '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFC}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}' => {}
            _ => out.push(c),
        }
    }
    out.nfc().collect()
}

/// Python's `html.unescape` for numeric references and a table of common named entities.
pub fn html_unescape(text: &str) -> String {
    unescape_entities(text, false)
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "copy" | "COPY" => "©",
        "reg" | "REG" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "laquo" => "«",
        "raquo" => "»",
        "bull" => "•",
        "middot" => "·",
        "deg" => "°",
        "times" => "×",
        "divide" => "÷",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "para" => "¶",
        "eacute" => "é",
        "Eacute" => "É",
        "egrave" => "è",
        "ecirc" => "ê",
        "aacute" => "á",
        "agrave" => "à",
        "acirc" => "â",
        "auml" => "ä",
        "Auml" => "Ä",
        "ouml" => "ö",
        "Ouml" => "Ö",
        "uuml" => "ü",
        "Uuml" => "Ü",
        "szlig" => "ß",
        "ccedil" => "ç",
        "ntilde" => "ñ",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        _ => return None,
    })
}

/// Entities that HTML5 (and so Python) also accepts without the trailing ';'.
fn legacy_no_semicolon(name: &str) -> bool {
    matches!(
        name,
        "amp"
            | "AMP"
            | "lt"
            | "LT"
            | "gt"
            | "GT"
            | "quot"
            | "QUOT"
            | "nbsp"
            | "copy"
            | "COPY"
            | "reg"
            | "REG"
            | "deg"
            | "times"
            | "divide"
            | "pound"
            | "yen"
            | "cent"
            | "sect"
            | "para"
            | "middot"
            | "laquo"
            | "raquo"
            | "eacute"
            | "Eacute"
            | "egrave"
            | "ecirc"
            | "aacute"
            | "agrave"
            | "acirc"
            | "auml"
            | "Auml"
            | "ouml"
            | "Ouml"
            | "uuml"
            | "Uuml"
            | "szlig"
            | "ccedil"
            | "ntilde"
            | "iacute"
            | "oacute"
            | "uacute"
    )
}

fn numeric_char(code: u32) -> char {
    if code == 0 || (0xD800..=0xDFFF).contains(&code) || code > 0x10FFFF {
        '\u{FFFD}'
    } else if (0x80..=0x9F).contains(&code) {
        // Python maps these through Windows-1252.
        const CP1252: [u32; 32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
            0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
            0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
        ];
        char::from_u32(CP1252[(code - 0x80) as usize]).unwrap_or('\u{FFFD}')
    } else {
        char::from_u32(code).unwrap_or('\u{FFFD}')
    }
}

fn unescape_entities(text: &str, require_semicolon: bool) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] != b'&' {
            i += 1;
            continue;
        }
        let rest = &text[i + 1..];
        let mut replaced: Option<(String, usize)> = None; // (replacement, bytes consumed after '&')
        if let Some(num) = rest.strip_prefix('#') {
            let (hex, digits) = match num.strip_prefix(['x', 'X']) {
                Some(h) => (true, h),
                None => (false, num),
            };
            let n = digits
                .bytes()
                .take_while(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
                .count();
            if n > 0 {
                let semi = digits.as_bytes().get(n) == Some(&b';');
                if semi || !require_semicolon {
                    let code = u32::from_str_radix(&digits[..n], if hex { 16 } else { 10 })
                        .unwrap_or(0x110000);
                    let used = 1 + usize::from(hex) + n + usize::from(semi);
                    replaced = Some((numeric_char(code).to_string(), used));
                }
            }
        } else {
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let name = &rest[..n];
            let semi = rest.as_bytes().get(n) == Some(&b';');
            if semi {
                if let Some(r) = named_entity(name) {
                    replaced = Some((r.to_string(), n + 1));
                }
            }
            if replaced.is_none() && !require_semicolon {
                // Longest legacy prefix, as Python does for e.g. "&ampx".
                // The longest legacy name has 6 letters: no need to try longer prefixes.
                for k in (2..=n.min(6)).rev() {
                    if legacy_no_semicolon(&name[..k]) {
                        if let Some(r) = named_entity(&name[..k]) {
                            replaced = Some((r.to_string(), k));
                            break;
                        }
                    }
                }
            }
        }
        match replaced {
            Some((r, used)) => {
                out.push_str(&text[last..i]);
                out.push_str(&r);
                i += 1 + used;
                last = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[last..]);
    out
}
