//! avad's own `.pt` reader (`avad_nn::weights::pytorch`) against files written by PyTorch itself (the committed
//! fixtures) and by `tools/make_fuzz_corpus.py` (every storage dtype, views, parameters, the legacy format).

use std::path::{Path, PathBuf};

use avad_nn::WeightMap;
use burn::tensor::DType;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn values(m: &WeightMap, k: &str) -> Vec<f32> {
    m.f32_values(k).unwrap_or_else(|e| panic!("{k}: {e}"))
}

#[test]
fn torch_written_state_dict_and_checkpoint_match_the_safetensors_fixture() {
    let st = WeightMap::load(root().join("fixtures/model/vadclip.safetensors")).unwrap();
    for file in ["sample_state_dict.pth", "sample_checkpoint.pth"] {
        let pth = WeightMap::load(root().join("fixtures/model").join(file)).unwrap();
        assert_eq!(pth.len(), 5, "{file}: {:?}", pth.keys().collect::<Vec<_>>());
        for (k, v) in pth.iter() {
            let want = st.get(k).unwrap_or_else(|| panic!("{file}: {k}"));
            assert_eq!(v.shape, want.shape, "{file}: {k}");
            assert_eq!(values(&pth, k), values(&st, k), "{file}: {k}");
        }
    }
}

#[test]
fn torch_written_wav2clip_partial_state_keeps_its_dtypes() {
    let m = WeightMap::load(root().join("fixtures/wav2clip/partial_state.pt")).unwrap();
    assert!(!m.is_empty());
    let dtypes: Vec<DType> = m.iter().map(|(_, d)| d.dtype).collect();
    assert!(dtypes.contains(&DType::F32), "{dtypes:?}");
    for k in m.keys() {
        let n: usize = m.shape(k).unwrap().iter().product();
        assert_eq!(values(&m, k).len(), n, "{k}");
    }
}

#[test]
fn generated_seeds_decode_to_the_values_written() {
    let corpus = root().join("fuzz/corpus/pytorch");
    let sd = [
        (
            "layer.weight",
            vec![2, 3],
            vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        ),
        ("layer.bias", vec![2], vec![3.0, 4.0]),
    ];
    for file in ["zip-state-dict", "legacy-state-dict", "zip-checkpoint"] {
        let m = WeightMap::load(corpus.join(file)).unwrap();
        assert_eq!(m.len(), 2, "{file}: {:?}", m.keys().collect::<Vec<_>>());
        for (k, shape, want) in &sd {
            assert_eq!(m.shape(k).as_ref(), Some(shape), "{file}: {k}");
            let got = values(&m, k);
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{file}: {k}: {got:?}");
            }
        }
    }
    let m = WeightMap::load(corpus.join("zip-mixed-dtypes")).unwrap();
    assert_eq!(m.get("h").unwrap().dtype, DType::F16);
    assert_eq!(values(&m, "h"), vec![0.5, 1.0, -2.0, 0.0]);
    assert_eq!(values(&m, "h_t"), vec![0.5, -2.0, 1.0, 0.0]);
    assert_eq!(values(&m, "bf"), vec![1.0, 2.0]);
    assert_eq!(values(&m, "d_offset"), vec![2.5, 3.5]);
    assert_eq!(values(&m, "i"), vec![1.0, -2.0]);
    assert_eq!(m.shape("scalar"), Some(vec![]));
    assert_eq!(values(&m, "scalar"), vec![5.0]);
    assert_eq!(values(&m, "c"), vec![-1.0, 2.0]);
    assert_eq!(values(&m, "u"), vec![255.0, 0.0]);
    assert_eq!(m.shape("mask"), Some(vec![3]));
    assert_eq!(m.shape("empty"), Some(vec![0, 4]));
    assert_eq!(values(&m, "param"), vec![1.5, 2.5, 3.5]);
    assert_eq!(values(&m, "nested.deeper.t"), vec![-2.0]);
    // A pickle with no tensors is an empty map; a non-allowed global is refused.
    assert!(WeightMap::load(corpus.join("pickle-no-tensors"))
        .unwrap()
        .is_empty());
    let e = WeightMap::load(corpus.join("refused-posix-system"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`posix.system` is not allowed"), "{e}");
}
