//! avad's own reader of PyTorch `.pt` / `.pth` files: the zip format (PyTorch ≥ 1.6, entries stored) and the legacy
//! format (PyTorch 0.1.10 – 1.5: sequential pickles followed by the raw storages), on bytes, for files from strangers.
//!
//! **Nothing is executed.** The pickle is read by a small stack machine that knows a fixed allow-list of opcodes
//! ([`ALLOWED_OPCODES`]) and of globals ([`ALLOWED_GLOBALS`]): what `torch.save` writes for state dicts and training
//! checkpoints. A global is never imported or called; each allowed one has a fixed meaning here (`OrderedDict()` is
//! an empty dict, `_rebuild_tensor_v2(storage, offset, size, stride, …)` a tensor view of a storage, …). Any other
//! opcode or global is an error that names it (`pickle global \`os.system\` is not allowed …`), so a pickle that
//! would run code in Python is refused before anything else happens.
//!
//! **Nothing is allocated that the file cannot justify.** Every length is checked against the bytes that remain
//! before a string or buffer is made; the memo is a map (a `BINPUT` index cannot grow a table); values live in one
//! arena, one per opcode at most, so sharing (`BINGET`) never copies; a storage's declared element count must fit
//! in its zip entry (or its legacy record); a tensor view must lie inside its storage and hold no more elements
//! than the storage (no stride-0 expansion), has at most [`MAX_DIMS`] dimensions, and its byte size is computed
//! with checked arithmetic. Walking the object graph is bounded in depth ([`MAX_NESTING`]) and in steps, so a
//! cyclic or exponentially shared pickle is an error, not a hang.

use std::collections::HashMap;

use burn::tensor::{BoolStore, DType, TensorData};

/// Opcodes the pickle reader accepts (protocol 2–5 binary opcodes that `torch.save` writes), by name. Anything
/// else (`INST`, `OBJ`, `NEWOBJ_EX`, `EXT*`, `PERSID`, the text opcodes of protocol 0, sets, buffers, …) is refused.
pub const ALLOWED_OPCODES: &[&str] = &[
    "PROTO",
    "FRAME",
    "STOP",
    "MARK",
    "POP",
    "POP_MARK",
    "DUP",
    "EMPTY_DICT",
    "EMPTY_LIST",
    "EMPTY_TUPLE",
    "DICT",
    "LIST",
    "TUPLE",
    "TUPLE1",
    "TUPLE2",
    "TUPLE3",
    "SETITEM",
    "SETITEMS",
    "APPEND",
    "APPENDS",
    "BINPUT",
    "LONG_BINPUT",
    "MEMOIZE",
    "BINGET",
    "LONG_BINGET",
    "NONE",
    "NEWTRUE",
    "NEWFALSE",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG1",
    "BINFLOAT",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "SHORT_BINSTRING",
    "BINSTRING",
    "SHORT_BINBYTES",
    "BINBYTES",
    "BINBYTES8",
    "GLOBAL",
    "STACK_GLOBAL",
    "REDUCE",
    "NEWOBJ",
    "BUILD",
    "BINPERSID",
];

/// Globals the pickle may name (`module.name`); each has a fixed, data-only meaning in this reader.
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
    "torch.Tensor",
    "torch.Size",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "_codecs.encode",
];

/// Most dimensions of one tensor.
pub const MAX_DIMS: usize = 32;
/// Deepest nesting of dicts / lists / tuples walked when collecting tensors.
pub const MAX_NESTING: usize = 64;
/// Most entries of a zip central directory.
pub const MAX_ZIP_ENTRIES: usize = 1 << 20;

/// The tensors of a PyTorch file, flattened to `a.b.c` keys, or a reason (the caller adds the file name).
pub(crate) fn parse_pytorch(bytes: &[u8]) -> Result<Vec<(String, TensorData)>, String> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return parse_zip_format(bytes);
    }
    if bytes.len() >= LEGACY_MAGIC.len() && bytes[..LEGACY_MAGIC.len()] == LEGACY_MAGIC {
        return parse_legacy_format(bytes);
    }
    if bytes.len() >= 262 && &bytes[257..262] == b"ustar" {
        return Err(
            "a TAR-format PyTorch file (torchvision < 0.2); re-save it with torch.save".into(),
        );
    }
    if bytes.first() == Some(&0x80) {
        // A bare pickle: fine if it holds no tensors (there is no storage data to point at).
        let mut m = Machine::new(bytes, 0);
        let root = m.run()?;
        let storages = Storages::None;
        return collect(&m, root, &storages);
    }
    Err(
        "not a PyTorch file (neither a zip archive, a legacy torch.save stream nor a pickle)"
            .into(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Containers

/// `PROTO 2, LONG1 10 bytes <0x1950a86a20f9469cfc6c>, STOP`: the first pickle of a legacy file.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

fn rd_u16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(i..i.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn rd_u32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(i..i.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn rd_u64(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(i..i.checked_add(8)?)?.try_into().ok()?,
    ))
}

struct ZipEntry {
    name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

/// The central directory of a zip archive (zip64 included); entries are not read here.
fn zip_entries(b: &[u8]) -> Result<Vec<ZipEntry>, String> {
    const EOCD: u32 = 0x0605_4b50;
    let trunc = || "zip archive: truncated or damaged central directory".to_string();
    if b.len() < 22 {
        return Err(trunc());
    }
    // The end-of-central-directory record is in the last 22 + 65535 bytes.
    let lo = b.len().saturating_sub(22 + 65535);
    let eocd = (lo..=b.len() - 22)
        .rev()
        .find(|&i| rd_u32(b, i) == Some(EOCD))
        .ok_or_else(|| "zip archive: no end-of-central-directory record".to_string())?;
    let mut count = u64::from(rd_u16(b, eocd + 10).ok_or_else(trunc)?);
    let mut cd_size = u64::from(rd_u32(b, eocd + 12).ok_or_else(trunc)?);
    let mut cd_offset = u64::from(rd_u32(b, eocd + 16).ok_or_else(trunc)?);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // zip64: the locator sits just before the EOCD record.
        let loc = eocd.checked_sub(20).ok_or_else(trunc)?;
        if rd_u32(b, loc) != Some(0x0706_4b50) {
            return Err("zip archive: zip64 sizes without a zip64 locator".into());
        }
        let rec = usize::try_from(rd_u64(b, loc + 8).ok_or_else(trunc)?).map_err(|_| trunc())?;
        if rd_u32(b, rec) != Some(0x0606_4b50) {
            return Err("zip archive: zip64 end-of-central-directory record not found".into());
        }
        count = rd_u64(b, rec + 32).ok_or_else(trunc)?;
        cd_size = rd_u64(b, rec + 40).ok_or_else(trunc)?;
        cd_offset = rd_u64(b, rec + 48).ok_or_else(trunc)?;
    }
    let cd_end = cd_offset.checked_add(cd_size).ok_or_else(trunc)?;
    if cd_end > b.len() as u64 {
        return Err(format!(
            "zip archive: central directory [{cd_offset}, {cd_end}) lies past the end of the file ({} bytes)",
            b.len()
        ));
    }
    // Each central-directory record takes at least 46 bytes: the count cannot exceed what the directory holds.
    if count > cd_size / 46 || count > MAX_ZIP_ENTRIES as u64 {
        return Err(format!(
            "zip archive: {count} entries declared in a central directory of {cd_size} bytes"
        ));
    }
    let mut pos = cd_offset as usize;
    let end = cd_end as usize;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if pos + 46 > end || rd_u32(b, pos) != Some(0x0201_4b50) {
            return Err(trunc());
        }
        let method = rd_u16(b, pos + 10).ok_or_else(trunc)?;
        let mut compressed = u64::from(rd_u32(b, pos + 20).ok_or_else(trunc)?);
        let mut size = u64::from(rd_u32(b, pos + 24).ok_or_else(trunc)?);
        let name_len = usize::from(rd_u16(b, pos + 28).ok_or_else(trunc)?);
        let extra_len = usize::from(rd_u16(b, pos + 30).ok_or_else(trunc)?);
        let comment_len = usize::from(rd_u16(b, pos + 32).ok_or_else(trunc)?);
        let mut local_offset = u64::from(rd_u32(b, pos + 42).ok_or_else(trunc)?);
        let name_at = pos + 46;
        let extra_at = name_at + name_len;
        let next = extra_at + extra_len + comment_len;
        if next > end {
            return Err(trunc());
        }
        let name = String::from_utf8_lossy(&b[name_at..extra_at]).into_owned();
        // zip64 extended information: 8-byte values for the fields that are saturated, in this order.
        let mut e = extra_at;
        while e + 4 <= extra_at + extra_len {
            let id = rd_u16(b, e).ok_or_else(trunc)?;
            let len = usize::from(rd_u16(b, e + 2).ok_or_else(trunc)?);
            let body = e + 4;
            if body + len > extra_at + extra_len {
                break;
            }
            if id == 0x0001 {
                let mut f = body;
                let mut take = |v: &mut u64| {
                    if *v == 0xFFFF_FFFF && f + 8 <= body + len {
                        *v = rd_u64(b, f).unwrap_or(*v);
                        f += 8;
                    }
                };
                take(&mut size);
                take(&mut compressed);
                take(&mut local_offset);
            }
            e = body + len;
        }
        out.push(ZipEntry {
            name,
            method,
            compressed,
            size,
            local_offset,
        });
        pos = next;
    }
    Ok(out)
}

/// The bytes of a stored (uncompressed) zip entry, checked to lie inside the file.
fn zip_data<'a>(b: &'a [u8], e: &ZipEntry) -> Result<&'a [u8], String> {
    if e.method != 0 || e.compressed != e.size {
        return Err(format!(
            "zip entry `{}` is compressed (method {}); torch.save stores entries uncompressed",
            e.name, e.method
        ));
    }
    let bad = || format!("zip entry `{}` lies past the end of the file", e.name);
    let h = usize::try_from(e.local_offset).map_err(|_| bad())?;
    if rd_u32(b, h) != Some(0x0403_4b50) {
        return Err(format!(
            "zip entry `{}`: no local header at its offset",
            e.name
        ));
    }
    let n = usize::from(rd_u16(b, h + 26).ok_or_else(bad)?);
    let x = usize::from(rd_u16(b, h + 28).ok_or_else(bad)?);
    let start = h + 30 + n + x;
    let len = usize::try_from(e.size).map_err(|_| bad())?;
    let stop = start.checked_add(len).ok_or_else(bad)?;
    b.get(start..stop).ok_or_else(bad)
}

fn parse_zip_format(b: &[u8]) -> Result<Vec<(String, TensorData)>, String> {
    let entries = zip_entries(b)?;
    let pkl = entries
        .iter()
        .filter(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
        .min_by_key(|e| e.name.len())
        .ok_or("zip archive without a data.pkl entry (not a torch.save file)")?;
    let prefix = &pkl.name[..pkl.name.len() - "data.pkl".len()];
    if let Some(bo) = entries
        .iter()
        .find(|e| e.name == format!("{prefix}byteorder"))
    {
        let order = zip_data(b, bo)?;
        if order.trim_ascii() == b"big" {
            return Err("big-endian PyTorch files are not supported".into());
        }
    }
    let pickle = zip_data(b, pkl)?;
    let mut by_key = HashMap::new();
    let data_prefix = format!("{prefix}data/");
    for e in &entries {
        if let Some(key) = e.name.strip_prefix(&data_prefix) {
            by_key.insert(key.to_string(), e);
        }
    }
    let mut m = Machine::new(pickle, 0);
    let root = m.run()?;
    let storages = Storages::Zip {
        file: b,
        entries: by_key,
    };
    collect(&m, root, &storages)
}

fn parse_legacy_format(b: &[u8]) -> Result<Vec<(String, TensorData)>, String> {
    fn next<'a>(b: &'a [u8], what: &str, pos: &mut usize) -> Result<(Machine<'a>, usize), String> {
        let mut m = Machine::new(b, *pos);
        let root = m.run().map_err(|e| format!("legacy format, {what}: {e}"))?;
        *pos = m.pos;
        Ok((m, root))
    }
    let mut pos = LEGACY_MAGIC.len();
    let (m, v) = next(b, "protocol version", &mut pos)?;
    if !matches!(m.arena[v], Value::Int(_)) {
        return Err("legacy format: the protocol version is not an integer".into());
    }
    let (m, info) = next(b, "system info", &mut pos)?;
    if let Value::Dict(items) = &m.arena[info] {
        for (k, v) in items {
            if matches!(&m.arena[*k], Value::Str(s) if s == "little_endian")
                && matches!(m.arena[*v], Value::Bool(false))
            {
                return Err("big-endian PyTorch files are not supported".into());
            }
        }
    }
    let (main, root) = next(b, "main object", &mut pos)?;
    let (km, keys) = next(b, "storage keys", &mut pos)?;
    let Value::List(items) = &km.arena[keys] else {
        return Err("legacy format: the storage keys are not a list".into());
    };
    let mut key_list = Vec::with_capacity(items.len());
    for k in items {
        match &km.arena[*k] {
            Value::Str(s) => key_list.push(s.clone()),
            _ => return Err("legacy format: a storage key is not a string".into()),
        }
    }
    // Element sizes of the storages, from the persistent ids of the main pickle.
    let mut elem: HashMap<&str, usize> = HashMap::new();
    for v in &main.arena {
        if let Value::Storage(s) = v {
            elem.insert(s.key.as_str(), s.dtype.size());
        }
    }
    // Raw records: for each key in order, an 8-byte element count and the elements.
    let mut records: HashMap<String, &[u8]> = HashMap::new();
    for key in key_list {
        let size = *elem.get(key.as_str()).ok_or_else(|| {
            format!("legacy format: storage `{key}` is listed but no tensor uses it")
        })?;
        let n = rd_u64(b, pos)
            .ok_or_else(|| format!("legacy format: storage `{key}` header is truncated"))?;
        let bytes = n
            .checked_mul(size as u64)
            .filter(|&x| x <= (b.len() - pos - 8) as u64)
            .ok_or_else(|| {
                format!(
                    "legacy format: storage `{key}` declares {n} elements, more than the {} bytes left in the file",
                    b.len() - pos - 8
                )
            })? as usize;
        records.insert(key, &b[pos + 8..pos + 8 + bytes]);
        pos += 8 + bytes;
    }
    collect(&main, root, &Storages::Legacy(records))
}

enum Storages<'a> {
    None,
    Zip {
        file: &'a [u8],
        entries: HashMap<String, &'a ZipEntry>,
    },
    Legacy(HashMap<String, &'a [u8]>),
}

impl Storages<'_> {
    /// The bytes of storage `key`, checked to hold `numel` elements of `size` bytes.
    fn bytes(&self, s: &StorageRef) -> Result<&[u8], String> {
        let raw = match self {
            Storages::None => {
                return Err(format!(
                    "the pickle references storage `{}` but the file has no tensor data",
                    s.key
                ))
            }
            Storages::Zip { file, entries } => {
                let e = entries
                    .get(&s.key)
                    .ok_or_else(|| format!("storage `{}` has no data/{} entry", s.key, s.key))?;
                zip_data(file, e)?
            }
            Storages::Legacy(records) => *records
                .get(&s.key)
                .ok_or_else(|| format!("storage `{}` is not in the storage list", s.key))?,
        };
        let elems = raw.len() / s.dtype.size();
        let need = s.offset.checked_add(s.numel);
        match need {
            Some(n) if n <= elems => Ok(&raw[s.offset * s.dtype.size()..n * s.dtype.size()]),
            _ => Err(format!(
                "storage `{}` declares {} elements (offset {}) but holds {elems}",
                s.key, s.numel, s.offset
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Values

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageDtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F64 => DType::F64,
            Self::F16 => DType::F16,
            Self::BF16 => DType::BF16,
            Self::I64 => DType::I64,
            Self::I32 => DType::I32,
            Self::I16 => DType::I16,
            Self::I8 => DType::I8,
            Self::U8 => DType::U8,
            Self::Bool => DType::Bool(BoolStore::Native),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// `torch.nn.parameter.Parameter`, `torch.Tensor`: classes named as the "new type" of a tensor.
    TensorClass,
    TorchSize,
    Storage(StorageDtype),
    /// numpy scalar / dtype and `_codecs.encode` (metadata such as a saved numpy AP): kept as opaque values.
    Opaque,
}

fn global(module: &str, name: &str) -> Result<Global, String> {
    let g = match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("torch.nn.parameter", "Parameter") | ("torch", "Tensor") => Global::TensorClass,
        ("torch", "Size") => Global::TorchSize,
        ("torch", s) if StorageDtype::from_name(s).is_some() => {
            Global::Storage(StorageDtype::from_name(s).expect("checked"))
        }
        ("numpy.core.multiarray", "scalar")
        | ("numpy._core.multiarray", "scalar")
        | ("numpy", "dtype")
        | ("_codecs", "encode") => Global::Opaque,
        _ => {
            let shown: String = format!("{module}.{name}").chars().take(200).collect();
            return Err(format!(
                "pickle global `{shown}` is not allowed (a PyTorch state dict needs only: {}); nothing was executed",
                ALLOWED_GLOBALS.join(", ")
            ));
        }
    };
    Ok(g)
}

#[derive(Debug, Clone)]
struct StorageRef {
    key: String,
    dtype: StorageDtype,
    /// Elements of the storage (or of the view of a legacy root storage).
    numel: usize,
    /// Element offset into the root storage (legacy views), else 0.
    offset: usize,
}

#[derive(Debug, Clone)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
    Opaque,
}

#[derive(Clone, Copy)]
enum Slot {
    Mark,
    V(usize),
}

/// The pickle stack machine: an arena of values (one per opcode at most), the stack and the memo.
struct Machine<'a> {
    b: &'a [u8],
    pos: usize,
    arena: Vec<Value>,
    stack: Vec<Slot>,
    memo: HashMap<u32, usize>,
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        0x80 => "PROTO",
        0x95 => "FRAME",
        b'.' => "STOP",
        b'(' => "MARK",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'}' => "EMPTY_DICT",
        b']' => "EMPTY_LIST",
        b')' => "EMPTY_TUPLE",
        b'd' => "DICT",
        b'l' => "LIST",
        b't' => "TUPLE",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        b's' => "SETITEM",
        b'u' => "SETITEMS",
        b'a' => "APPEND",
        b'e' => "APPENDS",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        0x94 => "MEMOIZE",
        b'h' => "BINGET",
        b'j' => "LONG_BINGET",
        b'N' => "NONE",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'M' => "BININT2",
        0x8a => "LONG1",
        b'G' => "BINFLOAT",
        0x8c => "SHORT_BINUNICODE",
        b'X' => "BINUNICODE",
        0x8d => "BINUNICODE8",
        b'U' => "SHORT_BINSTRING",
        b'T' => "BINSTRING",
        b'C' => "SHORT_BINBYTES",
        b'B' => "BINBYTES",
        0x8e => "BINBYTES8",
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        0x81 => "NEWOBJ",
        b'b' => "BUILD",
        b'Q' => "BINPERSID",
        // Refused ones, named for the error message.
        b'i' => "INST",
        b'o' => "OBJ",
        0x92 => "NEWOBJ_EX",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        b'P' => "PERSID",
        b'I' => "INT",
        b'L' => "LONG",
        0x8b => "LONG4",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'p' => "PUT",
        b'g' => "GET",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

impl<'a> Machine<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Machine {
            b,
            pos,
            arena: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let b: &'a [u8] = self.b;
        let end = self.pos.checked_add(n).filter(|&e| e <= b.len());
        match end {
            Some(e) => {
                let s = &b[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(format!(
                "pickle truncated: {what} of {n} bytes at offset {} but only {} remain",
                self.pos,
                self.b.len().saturating_sub(self.pos)
            )),
        }
    }

    fn len_u64(&mut self, width: usize, what: &str) -> Result<usize, String> {
        let raw = self.take(width, what)?;
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(raw);
        let n = u64::from_le_bytes(buf);
        // A length can never exceed what is left of the pickle: checked before anything is allocated.
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "pickle {what} declares {n} bytes at offset {} but only {left} remain",
                self.pos
            ));
        }
        Ok(n as usize)
    }

    fn push(&mut self, v: Value) {
        self.arena.push(v);
        self.stack.push(Slot::V(self.arena.len() - 1));
    }

    fn pop(&mut self, op: &str) -> Result<usize, String> {
        match self.stack.pop() {
            Some(Slot::V(i)) => Ok(i),
            Some(Slot::Mark) => Err(format!(
                "pickle {op}: found a MARK where a value was expected"
            )),
            None => Err(format!("pickle {op}: stack underflow")),
        }
    }

    fn top(&self, op: &str) -> Result<usize, String> {
        match self.stack.last() {
            Some(Slot::V(i)) => Ok(*i),
            _ => Err(format!("pickle {op}: no value on the stack")),
        }
    }

    /// Pops everything down to the topmost MARK (removed too).
    fn pop_mark(&mut self, op: &str) -> Result<Vec<usize>, String> {
        let m = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| format!("pickle {op}: no MARK on the stack"))?;
        let items = self.stack[m + 1..]
            .iter()
            .map(|s| match s {
                Slot::V(i) => *i,
                Slot::Mark => unreachable!("topmost mark"),
            })
            .collect();
        self.stack.truncate(m);
        Ok(items)
    }

    fn string(&mut self, n: usize, op: &str) -> Result<(), String> {
        let raw = self.take(n, op)?;
        let s = String::from_utf8_lossy(raw).into_owned();
        self.push(Value::Str(s));
        Ok(())
    }

    fn memo_put(&mut self, idx: u32) -> Result<(), String> {
        let top = self.top("PUT")?;
        self.memo.insert(idx, top);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> Result<(), String> {
        let v = *self
            .memo
            .get(&idx)
            .ok_or_else(|| format!("pickle GET of memo entry {idx}, which was never stored"))?;
        self.stack.push(Slot::V(v));
        Ok(())
    }

    fn add_items(&mut self, target: usize, items: &[usize], op: &str) -> Result<(), String> {
        match &mut self.arena[target] {
            Value::Dict(d) => {
                if !items.len().is_multiple_of(2) {
                    return Err(format!("pickle {op}: odd number of key/value items"));
                }
                d.extend(items.chunks_exact(2).map(|c| (c[0], c[1])));
                Ok(())
            }
            Value::Opaque => Ok(()),
            _ => Err(format!("pickle {op}: target is not a dict")),
        }
    }

    /// Runs until STOP; returns the arena index of the result.
    fn run(&mut self) -> Result<usize, String> {
        loop {
            let at = self.pos;
            let op = *self
                .take(1, "opcode")
                .map_err(|_| "pickle ends without a STOP opcode".to_string())?
                .first()
                .expect("one byte");
            let name = opcode_name(op);
            match op {
                0x80 => {
                    let p = self.take(1, "PROTO")?[0];
                    if p > 5 {
                        return Err(format!("unsupported pickle protocol {p}"));
                    }
                }
                0x95 => {
                    self.take(8, "FRAME")?;
                }
                b'.' => {
                    let r = self.pop("STOP")?;
                    return Ok(r);
                }
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop().ok_or("pickle POP: stack underflow")?;
                }
                b'1' => {
                    self.pop_mark("POP_MARK")?;
                }
                b'2' => {
                    let t = self.top("DUP")?;
                    self.stack.push(Slot::V(t));
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b')' => self.push(Value::Tuple(Vec::new())),
                b'd' => {
                    let items = self.pop_mark("DICT")?;
                    if !items.len().is_multiple_of(2) {
                        return Err("pickle DICT: odd number of key/value items".into());
                    }
                    let d = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    self.push(Value::Dict(d));
                }
                b'l' => {
                    let items = self.pop_mark("LIST")?;
                    self.push(Value::List(items));
                }
                b't' => {
                    let items = self.pop_mark("TUPLE")?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = vec![0; n];
                    for slot in items.iter_mut().rev() {
                        *slot = self.pop(name)?;
                    }
                    self.push(Value::Tuple(items));
                }
                b's' => {
                    let v = self.pop("SETITEM")?;
                    let k = self.pop("SETITEM")?;
                    let d = self.top("SETITEM")?;
                    self.add_items(d, &[k, v], "SETITEM")?;
                }
                b'u' => {
                    let items = self.pop_mark("SETITEMS")?;
                    let d = self.top("SETITEMS")?;
                    self.add_items(d, &items, "SETITEMS")?;
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop("APPEND")?]
                    } else {
                        self.pop_mark("APPENDS")?
                    };
                    let l = self.top(name)?;
                    match &mut self.arena[l] {
                        Value::List(v) => v.extend(items),
                        Value::Opaque => {}
                        _ => return Err(format!("pickle {name}: target is not a list")),
                    }
                }
                b'q' => {
                    let i = self.take(1, "BINPUT")?[0];
                    self.memo_put(u32::from(i))?;
                }
                b'r' => {
                    let i = rd_u32(self.take(4, "LONG_BINPUT")?, 0).expect("4 bytes");
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len())
                        .map_err(|_| "pickle memo too large".to_string())?;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.take(1, "BINGET")?[0];
                    self.memo_get(u32::from(i))?;
                }
                b'j' => {
                    let i = rd_u32(self.take(4, "LONG_BINGET")?, 0).expect("4 bytes");
                    self.memo_get(i)?;
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = rd_u32(self.take(4, "BININT")?, 0).expect("4 bytes") as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.take(1, "BININT1")?[0];
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = rd_u16(self.take(2, "BININT2")?, 0).expect("2 bytes");
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    let n = usize::from(self.take(1, "LONG1")?[0]);
                    let raw = self.take(n, "LONG1")?;
                    if n <= 8 {
                        let fill = if raw.last().is_some_and(|&x| x & 0x80 != 0) {
                            0xFF
                        } else {
                            0
                        };
                        let mut buf = [fill; 8];
                        buf[..n].copy_from_slice(raw);
                        self.push(Value::Int(i64::from_le_bytes(buf)));
                    } else {
                        self.push(Value::Opaque);
                    }
                }
                b'G' => {
                    // The value is not needed (epochs' metrics and the like), only its place on the stack.
                    self.take(8, "BINFLOAT")?;
                    self.push(Value::Float);
                }
                0x8c => {
                    let n = self.len_u64(1, "SHORT_BINUNICODE")?;
                    self.string(n, "SHORT_BINUNICODE")?;
                }
                b'X' => {
                    let n = self.len_u64(4, "BINUNICODE")?;
                    self.string(n, "BINUNICODE")?;
                }
                0x8d => {
                    let n = self.len_u64(8, "BINUNICODE8")?;
                    self.string(n, "BINUNICODE8")?;
                }
                b'U' => {
                    let n = self.len_u64(1, "SHORT_BINSTRING")?;
                    self.string(n, "SHORT_BINSTRING")?;
                }
                b'T' => {
                    let n = self.len_u64(4, "BINSTRING")?;
                    self.string(n, "BINSTRING")?;
                }
                b'C' | b'B' | 0x8e => {
                    let width = match op {
                        b'C' => 1,
                        b'B' => 4,
                        _ => 8,
                    };
                    let n = self.len_u64(width, name)?;
                    self.take(n, name)?;
                    self.push(Value::Bytes);
                }
                b'c' => {
                    let module = self.line("GLOBAL")?;
                    let gname = self.line("GLOBAL")?;
                    let g = global(&module, &gname)?;
                    self.push(Value::Global(g));
                }
                0x93 => {
                    let n = self.pop("STACK_GLOBAL")?;
                    let m = self.pop("STACK_GLOBAL")?;
                    let (Value::Str(module), Value::Str(gname)) = (&self.arena[m], &self.arena[n])
                    else {
                        return Err("pickle STACK_GLOBAL: module and name must be strings".into());
                    };
                    let g = global(module, gname)?;
                    self.push(Value::Global(g));
                }
                b'R' | 0x81 => {
                    let args = self.pop(name)?;
                    let f = self.pop(name)?;
                    let v = self.call(f, args, name)?;
                    self.push(v);
                }
                b'b' => {
                    let _state = self.pop("BUILD")?;
                    let target = self.top("BUILD")?;
                    match &self.arena[target] {
                        // OrderedDict `_metadata`, parameter state, numpy scalar state: data we do not need.
                        Value::Dict(_) | Value::Tensor(_) | Value::Opaque => {}
                        other => {
                            return Err(format!("pickle BUILD on a {} is not allowed", kind(other)))
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop("BINPERSID")?;
                    let s = self.persistent(pid)?;
                    self.push(Value::Storage(s));
                }
                _ => {
                    return Err(format!(
                    "pickle opcode {name} ({op:#04x}) at offset {at} is not allowed (allowed: {})",
                    ALLOWED_OPCODES.join(" ")
                ))
                }
            }
        }
    }

    /// A newline-terminated text argument (GLOBAL), at most 256 bytes.
    fn line(&mut self, op: &str) -> Result<String, String> {
        let b: &'a [u8] = self.b;
        let rest = &b[self.pos..];
        let n = rest
            .iter()
            .take(257)
            .position(|&c| c == b'\n')
            .ok_or_else(|| format!("pickle {op}: argument is not a line of at most 256 bytes"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn tuple(&self, i: usize, op: &str) -> Result<&[usize], String> {
        match &self.arena[i] {
            Value::Tuple(t) => Ok(t),
            other => Err(format!(
                "pickle {op}: expected a tuple, found a {}",
                kind(other)
            )),
        }
    }

    fn int(&self, i: usize, what: &str) -> Result<usize, String> {
        match self.arena[i] {
            Value::Int(v) if v >= 0 => Ok(v as usize),
            Value::Int(v) => Err(format!("{what} is negative ({v})")),
            ref other => Err(format!("{what} is a {}, not an integer", kind(other))),
        }
    }

    fn ints(&self, i: usize, what: &str) -> Result<Vec<usize>, String> {
        let t = self.tuple(i, what)?;
        if t.len() > MAX_DIMS {
            return Err(format!(
                "{what} has {} dimensions (at most {MAX_DIMS})",
                t.len()
            ));
        }
        t.iter().map(|&x| self.int(x, what)).collect()
    }

    /// A persistent id: `('storage', StorageType, key, location, numel[, view_metadata])`.
    fn persistent(&self, pid: usize) -> Result<StorageRef, String> {
        let t = self.tuple(pid, "BINPERSID")?;
        if t.len() < 5 || !matches!(&self.arena[t[0]], Value::Str(s) if s == "storage") {
            return Err(
                "pickle persistent id is not a ('storage', type, key, location, size) tuple".into(),
            );
        }
        let dtype = match self.arena[t[1]] {
            Value::Global(Global::Storage(d)) => d,
            _ => {
                return Err(
                    "pickle persistent id: the storage type is not a torch storage class".into(),
                )
            }
        };
        let key = match &self.arena[t[2]] {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err("pickle persistent id: the storage key is not a string".into()),
        };
        let mut numel = self.int(t[4], "storage size")?;
        let mut offset = 0;
        // Legacy views: (view_key, offset, view_size) into the root storage.
        if let Some(&vm) = t.get(5) {
            if let Value::Tuple(v) = &self.arena[vm] {
                if v.len() == 3 {
                    let off = self.int(v[1], "storage view offset")?;
                    let n = self.int(v[2], "storage view size")?;
                    if off.checked_add(n).is_none_or(|end| end > numel) {
                        return Err(format!(
                            "storage `{key}`: view [{off}, +{n}) lies outside its {numel} elements"
                        ));
                    }
                    offset = off;
                    numel = n;
                }
            }
        }
        Ok(StorageRef {
            key,
            dtype,
            numel,
            offset,
        })
    }

    /// REDUCE / NEWOBJ of an allowed global: never a call, only the data-level meaning of the global.
    fn call(&self, f: usize, args: usize, op: &str) -> Result<Value, String> {
        let g = match self.arena[f] {
            Value::Global(g) => g,
            ref other => {
                return Err(format!(
                    "pickle {op} on a {} (only allowed globals)",
                    kind(other)
                ))
            }
        };
        let a = self.tuple(args, op)?;
        match g {
            Global::OrderedDict => {
                if a.is_empty() {
                    Ok(Value::Dict(Vec::new()))
                } else {
                    Err("pickle: OrderedDict(...) with arguments is not supported".into())
                }
            }
            Global::RebuildTensor | Global::RebuildTensorV2 => {
                if a.len() < 4 {
                    return Err("pickle: _rebuild_tensor with fewer than 4 arguments".into());
                }
                let storage = match &self.arena[a[0]] {
                    Value::Storage(s) => s.clone(),
                    other => {
                        return Err(format!(
                            "pickle: _rebuild_tensor of a {}, not a storage",
                            kind(other)
                        ))
                    }
                };
                let offset = self.int(a[1], "tensor storage offset")?;
                let size = self.ints(a[2], "tensor size")?;
                let stride = self.ints(a[3], "tensor stride")?;
                if size.len() != stride.len() {
                    return Err(format!(
                        "tensor size {size:?} and stride {stride:?} differ in length"
                    ));
                }
                Ok(Value::Tensor(TensorRef {
                    storage,
                    offset,
                    size,
                    stride,
                }))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => match a.first() {
                Some(&t) if matches!(self.arena[t], Value::Tensor(_)) => Ok(self.arena[t].clone()),
                _ => Err("pickle: _rebuild_parameter without a tensor".into()),
            },
            Global::TensorClass => match a.first() {
                Some(&t) if matches!(self.arena[t], Value::Tensor(_)) => Ok(self.arena[t].clone()),
                _ => Err("pickle: Parameter(...) without a tensor".into()),
            },
            Global::RebuildFromTypeV2 => {
                // (func, new_type, args, state): the tensor is func(*args).
                if a.len() < 3 {
                    return Err("pickle: _rebuild_from_type_v2 with fewer than 3 arguments".into());
                }
                if !matches!(self.arena[a[1]], Value::Global(Global::TensorClass)) {
                    return Err(
                        "pickle: _rebuild_from_type_v2 of a type other than a tensor".into(),
                    );
                }
                match self.arena[a[0]] {
                    Value::Global(
                        Global::RebuildTensor
                        | Global::RebuildTensorV2
                        | Global::RebuildParameter
                        | Global::RebuildParameterWithState,
                    ) => self.call(a[0], a[2], op),
                    _ => Err(
                        "pickle: _rebuild_from_type_v2 with a function other than a tensor rebuild"
                            .into(),
                    ),
                }
            }
            Global::TorchSize => match a.first() {
                Some(&t) if matches!(self.arena[t], Value::Tuple(_)) => Ok(self.arena[t].clone()),
                _ => Err("pickle: torch.Size without a tuple".into()),
            },
            Global::Storage(_) => {
                Err("pickle: a storage class is called (not a state dict)".into())
            }
            Global::Opaque => Ok(Value::Opaque),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float => "float",
        Value::Str(_) => "str",
        Value::Bytes => "bytes",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Global(_) => "global",
        Value::Storage(_) => "storage",
        Value::Tensor(_) => "tensor",
        Value::Opaque => "opaque object",
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

/// Flattens the root dict (nested dicts joined with `.`) and materialises every tensor.
fn collect(
    m: &Machine,
    root: usize,
    storages: &Storages,
) -> Result<Vec<(String, TensorData)>, String> {
    if !matches!(m.arena[root], Value::Dict(_)) {
        return Err(format!(
            "the pickle holds a {}, not a dict (a state dict or a checkpoint dict is expected)",
            kind(&m.arena[root])
        ));
    }
    let mut found = Vec::new();
    // A tree visits each value once; shared sub-objects may be visited again, but never without bound.
    let mut budget = 2 * m.arena.len() + 1024;
    walk(m, root, &mut String::new(), 0, &mut budget, &mut found)?;
    let mut out = Vec::with_capacity(found.len());
    for (key, t) in found {
        let data = materialise(t, storages).map_err(|e| format!("tensor `{key}`: {e}"))?;
        out.push((key, data));
    }
    Ok(out)
}

fn walk<'m>(
    m: &'m Machine,
    v: usize,
    path: &mut String,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(String, &'m TensorRef)>,
) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "the pickle nests deeper than {MAX_NESTING} levels (or is cyclic)"
        ));
    }
    *budget = budget
        .checked_sub(1)
        .ok_or("the pickle's object graph is too large to walk (shared or cyclic sub-objects)")?;
    match &m.arena[v] {
        Value::Dict(items) => {
            for (k, val) in items {
                let key = match &m.arena[*k] {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                walk(m, *val, path, depth + 1, budget, out)?;
                path.truncate(len);
            }
        }
        Value::Tensor(t) => out.push((path.clone(), t)),
        _ => {}
    }
    Ok(())
}

fn materialise(t: &TensorRef, storages: &Storages) -> Result<TensorData, String> {
    let raw = storages.bytes(&t.storage)?;
    let es = t.storage.dtype.size();
    let elems = raw.len() / es;
    let numel = t
        .size
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} overflows", t.size))?;
    if numel > 0 {
        // Last element reached by the view: offset + Σ (size_i − 1) · stride_i, inside the storage.
        let mut last = t.offset;
        for (&d, &s) in t.size.iter().zip(&t.stride) {
            last = (d - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(last))
                .ok_or_else(|| format!("view {:?} / {:?} overflows", t.size, t.stride))?;
        }
        if last >= elems {
            return Err(format!(
                "view (offset {}, size {:?}, stride {:?}) reaches element {last} of a storage of {elems}",
                t.offset, t.size, t.stride
            ));
        }
        if numel > elems {
            return Err(format!(
                "shape {:?} has {numel} elements, more than its storage holds ({elems})",
                t.size
            ));
        }
    }
    let mut bytes = Vec::with_capacity(numel * es);
    if numel > 0 {
        let contiguous = {
            let mut expect = 1usize;
            let mut ok = true;
            for (&d, &s) in t.size.iter().zip(&t.stride).rev() {
                if d != 1 && s != expect {
                    ok = false;
                    break;
                }
                expect *= d;
            }
            ok
        };
        if contiguous {
            bytes.extend_from_slice(&raw[t.offset * es..(t.offset + numel) * es]);
        } else {
            let nd = t.size.len();
            let mut idx = vec![0usize; nd];
            for _ in 0..numel {
                let at = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
                bytes.extend_from_slice(&raw[at * es..(at + 1) * es]);
                for d in (0..nd).rev() {
                    idx[d] += 1;
                    if idx[d] < t.size[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        }
    }
    if t.storage.dtype == StorageDtype::Bool {
        // Any non-zero byte is `true`; a bool must never hold another bit pattern.
        bytes.iter_mut().for_each(|x| *x = u8::from(*x != 0));
    }
    Ok(TensorData::from_bytes_vec(
        bytes,
        t.size.clone(),
        t.storage.dtype.dtype(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_opcodes_and_globals_are_named() {
        for op in 0u8..=255 {
            let n = opcode_name(op);
            if ALLOWED_OPCODES.contains(&n) {
                continue;
            }
            let e = Machine::new(&[op, b'.'], 0).run().unwrap_err();
            assert!(e.contains(n) && e.contains("not allowed"), "{e}");
        }
        for g in ALLOWED_GLOBALS {
            let (m, n) = g.rsplit_once('.').unwrap();
            assert!(global(m, n).is_ok(), "{g}");
        }
        assert!(global("os", "system").unwrap_err().contains("`os.system`"));
    }
}
