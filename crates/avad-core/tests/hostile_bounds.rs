//! Hostile `.npy` headers: an error naming the file and the field, within 100 ms and 50 MB (issue #18). Memory is
//! the peak of bytes allocated during the parse (a counting global allocator), time the parse call's wall time.

use avad_core::npy::parse_npy_bytes;

#[path = "../../../fuzz/harness/measure.rs"]
mod measure;

#[global_allocator]
static ALLOC: measure::Counting = measure::Counting;

fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b
}

fn refused(bytes: &[u8], name: &str, expect: &[&str]) {
    measure::refused("/data/hostile", name, expect, |path| {
        parse_npy_bytes(bytes, path)
    });
}

#[test]
fn npy_declaring_10_to_the_12_rows_of_512() {
    let mut b = npy_header("<f4", "(1000000000000, 512)");
    b.extend_from_slice(&[0u8; 4096]);
    refused(&b, "huge.npy", &["'shape'", "1000000000000, 512"]);
}

#[test]
fn npy_whose_shape_overflows() {
    let b = npy_header("<f8", "(4294967296, 4294967296, 4294967296)");
    refused(&b, "overflow.npy", &["'shape'", "overflows"]);
}

#[test]
fn npy_with_too_many_dimensions() {
    let shape = format!("({})", vec!["1"; 100].join(", "));
    refused(
        &npy_header("<f4", &shape),
        "dims.npy",
        &["'shape'", "100 dimensions"],
    );
}

#[test]
fn npy_header_length_past_the_end() {
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f4'");
    refused(&b, "header.npy", &["truncated header"]);
}

#[test]
fn npy_shape_with_parentheses_out_of_order() {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': ), (}\n";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    refused(&b, "parens.npy", &["'shape'"]);
}
