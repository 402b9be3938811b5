//! Hostile weight files (issue #18): a `.pt` whose pickle calls `os.system` (or any global outside the allow-list)
//! is refused with an error naming the global, and nothing runs; a pickle declaring a huge storage or shape, a
//! legacy storage record claiming more than the file, safetensors offsets past the end: each an error naming the
//! file, within 100 ms and under 50 MB. Memory is the peak of bytes allocated during the parse (a counting global
//! allocator), time the parse call's wall time.

use avad_nn::WeightMap;

#[path = "../../../fuzz/harness/measure.rs"]
mod measure;

#[global_allocator]
static ALLOC: measure::Counting = measure::Counting;

// --- a few pickle opcodes, as torch.save writes them (protocol 2) ---

fn s(out: &mut Vec<u8>, text: &str) {
    out.push(b'X');
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn long(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&[0x8a, 8]);
    out.extend_from_slice(&v.to_le_bytes());
}

fn global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(b'c');
    out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}

/// `{"w": _rebuild_tensor_v2(storage(FloatStorage, "0", numel), 0, size, stride, False, OrderedDict())}`.
fn tensor_pickle(numel: u64, size: &[u64], stride: &[u64]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'('];
    s(&mut p, "w");
    global(&mut p, "torch._utils", "_rebuild_tensor_v2");
    p.extend_from_slice(b"((");
    s(&mut p, "storage");
    global(&mut p, "torch", "FloatStorage");
    s(&mut p, "0");
    s(&mut p, "cpu");
    long(&mut p, numel);
    p.extend_from_slice(b"tQ");
    long(&mut p, 0);
    p.push(b'(');
    size.iter().for_each(|&d| long(&mut p, d));
    p.extend_from_slice(b"t(");
    stride.iter().for_each(|&d| long(&mut p, d));
    p.extend_from_slice(b"t\x89");
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")RtRu.");
    p
}

/// A stored zip archive as torch.save writes it (CRCs left at 0: avad's reader does not use them).
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            h.extend_from_slice(&[0; 4]); // time, date
            h.extend_from_slice(&0u32.to_le_bytes()); // crc
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(header(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn pt(pickle: &[u8], storage: &[u8]) -> Vec<u8> {
    zip(&[("archive/data.pkl", pickle), ("archive/data/0", storage)])
}

fn refused(bytes: &[u8], name: &str, expect: &[&str]) -> String {
    measure::refused("/models/hostile", name, expect, |path| {
        WeightMap::from_bytes(bytes, path)
    })
}

#[test]
fn a_valid_tensor_pickle_loads() {
    // The builders above make a loadable file: the refusals below are about the one thing each changes.
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let m =
        WeightMap::from_bytes(&pt(&tensor_pickle(6, &[2, 3], &[3, 1]), &data), "ok.pt").unwrap();
    assert_eq!(m.shape("w"), Some(vec![2, 3]));
    assert_eq!(
        m.f32_values("w").unwrap(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    // A transposed view is gathered.
    let m = WeightMap::from_bytes(&pt(&tensor_pickle(6, &[3, 2], &[1, 3]), &data), "t.pt").unwrap();
    assert_eq!(
        m.f32_values("w").unwrap(),
        vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
}

#[test]
fn pickle_calling_os_system_is_refused_naming_the_global() {
    let marker = std::env::temp_dir().join(format!("avad-pwned-{}", std::process::id()));
    let cmd = format!("touch {}", marker.display());
    // os.system("touch …") as a REDUCE, inside a torch zip and as a bare pickle.
    let mut p = vec![0x80, 2];
    global(&mut p, "os", "system");
    s(&mut p, &cmd);
    p.extend_from_slice(b"\x85R.");
    refused(
        &pt(&p, b""),
        "evil.pt",
        &["pickle global `os.system` is not allowed"],
    );
    refused(&p, "evil.pkl", &["`os.system`"]);
    // The same through STACK_GLOBAL (protocol 4), and other classics.
    let mut p4 = vec![0x80, 4, 0x8c, 5];
    p4.extend_from_slice(b"posix");
    p4.extend_from_slice(&[0x8c, 6]);
    p4.extend_from_slice(b"system");
    p4.extend_from_slice(&[0x93]);
    s(&mut p4, &cmd);
    p4.extend_from_slice(b"\x85R.");
    refused(&pt(&p4, b""), "evil4.pt", &["`posix.system`"]);
    for (m, n) in [
        ("builtins", "eval"),
        ("__builtin__", "exec"),
        ("subprocess", "Popen"),
        ("torch", "load"),
    ] {
        let mut p = vec![0x80, 2];
        global(&mut p, m, n);
        p.extend_from_slice(b").");
        refused(&pt(&p, b""), "classic.pt", &[&format!("`{m}.{n}`")]);
    }
    // An opcode outside the allow-list (INST names a class and calls it) is refused by name as well.
    refused(b"\x80\x02(iposix\nsystem\n.", "inst.pkl", &["opcode INST"]);
    assert!(!marker.exists(), "something was executed");
}

#[test]
fn pickle_declaring_a_huge_storage_is_refused() {
    // 10^15 float32 elements declared; the storage entry holds 4 bytes.
    let p = tensor_pickle(1_000_000_000_000_000, &[1_000_000_000_000_000], &[1]);
    refused(
        &pt(&p, &[0; 4]),
        "huge-storage.pt",
        &["storage `0` declares 1000000000000000 elements", "holds 1"],
    );
}

#[test]
fn pickle_declaring_a_huge_shape_over_a_small_storage_is_refused() {
    // A (10^6, 10^6) view with zero strides over one element: 4 TB if materialised.
    let p = tensor_pickle(1, &[1_000_000, 1_000_000], &[0, 0]);
    refused(
        &pt(&p, &[0; 4]),
        "expand.pt",
        &["tensor `w`", "more than its storage holds"],
    );
    // A view past the storage's end.
    let p = tensor_pickle(4, &[4], &[1_000_000]);
    refused(
        &pt(&p, &[0; 16]),
        "stride.pt",
        &["tensor `w`", "reaches element"],
    );
    // A shape whose element count overflows.
    let p = tensor_pickle(4, &[1 << 40, 1 << 40], &[1, 1]);
    refused(&pt(&p, &[0; 16]), "overflow.pt", &["overflows"]);
}

#[test]
fn legacy_storage_record_claiming_more_than_the_file_is_refused() {
    let mut b = vec![
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ];
    b.extend_from_slice(b"\x80\x02M\xe9\x03."); // protocol 1001
    b.extend_from_slice(b"\x80\x02}."); // system info
    let mut p = tensor_pickle(4, &[4], &[1]);
    // Legacy persistent ids carry a sixth element (view metadata, None).
    let pos = p.windows(3).position(|w| w == b"tQ\x8a").unwrap();
    p.insert(pos, b'N');
    b.extend_from_slice(&p);
    let mut keys = vec![0x80, 2, b']', b'('];
    s(&mut keys, "0");
    keys.extend_from_slice(b"e.");
    b.extend_from_slice(&keys);
    b.extend_from_slice(&(1u64 << 60).to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    refused(
        &b,
        "legacy.pt",
        &["storage `0` declares 1152921504606846976 elements"],
    );
}

fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn safetensors_offsets_past_the_end_are_refused() {
    let h = r#"{"w":{"dtype":"F32","shape":[1000000,1000],"data_offsets":[0,4000000000]}}"#;
    refused(
        &safetensors(h, &[0; 16]),
        "past-end.safetensors",
        &["not a safetensors file"],
    );
    let h = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,24]}}"#;
    refused(
        &safetensors(h, &[0; 16]),
        "offsets.safetensors",
        &["not a safetensors file"],
    );
    // A header length of 2^60.
    let mut b = (1u64 << 60).to_le_bytes().to_vec();
    b.extend_from_slice(b"{\"a\":1}");
    refused(&b, "header.safetensors", &[".safetensors"]);
}
