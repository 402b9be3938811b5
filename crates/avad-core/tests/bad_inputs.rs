//! Bad input files give errors that name the file and the problem.

use avad_core::npy::{encode_npy_f32, read_npy};

#[test]
fn truncated_npy_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("video__0.npy");
    let bytes = encode_npy_f32(&[10, 512], &vec![0.5; 5120]);
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let msg = read_npy(&p).unwrap_err().to_string();
    assert!(
        msg.contains("video__0.npy") && msg.contains("truncated data"),
        "{msg}"
    );
}

#[test]
fn integer_npy_names_the_file_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ints.npy");
    let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&p, bytes).unwrap();
    let msg = read_npy(&p).unwrap_err().to_string();
    assert!(
        msg.contains("ints.npy") && msg.contains("unsupported dtype '<i8'"),
        "{msg}"
    );
}

#[test]
fn not_a_numpy_file_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("text.npy");
    std::fs::write(&p, "hello").unwrap();
    let msg = read_npy(&p).unwrap_err().to_string();
    assert!(msg.contains("text.npy") && msg.contains("magic"), "{msg}");
    let msg = read_npy(&dir.path().join("absent.npy"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.npy"), "{msg}");
}
