//! List CSVs in the community formats: `path,label` (VadCLIP) and `path,audio_path,label` (AVadCLIP).
//!
//! Paths in published lists are absolute paths of the authors' machines. A path that does not exist is resolved by
//! its file name: first relative to the list's folder, then inside `features_dir` when one is given.

use std::path::{Path, PathBuf};

use crate::{CoreError, Result};

/// One row of a list: a feature file (one video, one crop), its audio feature file, and its label string.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// The visual feature file, resolved.
    pub path: PathBuf,
    /// The audio feature file, resolved (AVadCLIP lists only).
    pub audio_path: Option<PathBuf>,
    /// The label string as in the list (`B2-G-0`, `A`, `Normal`, ...).
    pub label: String,
    /// The video name: the file name without `__<crop>.npy` or `.npy`.
    pub video: String,
    /// The crop index from a `__<crop>` suffix, if any.
    pub crop: Option<u32>,
}

/// Splits a feature file name into the video name and the crop index: `X__5.npy` → (`X`, Some(5)).
pub fn video_name_and_crop(path: &Path) -> (String, Option<u32>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".npy").unwrap_or(&name);
    if let Some(pos) = stem.rfind("__") {
        let tail = &stem[pos + 2..];
        if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) {
            return (stem[..pos].to_string(), tail.parse().ok());
        }
    }
    (stem.to_string(), None)
}

/// Reads a list CSV. Columns are found by header name (`path`, `label`, optional `audio_path`); other columns are
/// ignored. Each path is resolved as described in the module docs.
pub fn read_list(list: &Path, features_dir: Option<&Path>) -> Result<Vec<ListEntry>> {
    let bytes = std::fs::read(list).map_err(|e| CoreError::io(list, e))?;
    parse_list(&bytes, list, features_dir)
}

/// Parses the bytes of a list CSV read from `list` (which names the file in errors and anchors relative paths);
/// the entry point of [`read_list`] and of the fuzz target `list_csv`.
pub fn parse_list(
    bytes: &[u8],
    list: &Path,
    features_dir: Option<&Path>,
) -> Result<Vec<ListEntry>> {
    let err = |reason: String| CoreError::List {
        path: list.to_path_buf(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let path_col = column("path").ok_or_else(|| {
        err(format!(
            "missing column 'path' (header is '{}'; expected path,label or path,audio_path,label)",
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    let label_col = column("label").ok_or_else(|| {
        err(format!(
            "missing column 'label' (header is '{}'; expected path,label or path,audio_path,label)",
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    let audio_col = column("audio_path");
    let list_dir = list.parent().unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| err(format!("line {line}: {e}")))?;
        let field = |col: usize, name: &str| {
            record
                .get(col)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| err(format!("line {line}: empty or missing '{name}'")))
        };
        let raw_path = field(path_col, "path")?;
        let label = field(label_col, "label")?.to_string();
        let path = resolve(Path::new(raw_path), list_dir, features_dir);
        let audio_path = match audio_col {
            Some(c) => Some(resolve(
                Path::new(field(c, "audio_path")?),
                list_dir,
                features_dir,
            )),
            None => None,
        };
        let (video, crop) = video_name_and_crop(&path);
        entries.push(ListEntry {
            path,
            audio_path,
            label,
            video,
            crop,
        });
    }
    if entries.is_empty() {
        return Err(err("the list has no rows".into()));
    }
    Ok(entries)
}

/// Resolves a list path: as given, relative to the list's folder, or by file name in `features_dir`
/// (also in its `visual/` and `audio/` sub-folders, the layout `avad extract` writes). Unresolvable paths are
/// returned as given so that the error names the original path.
pub fn resolve(path: &Path, list_dir: &Path, features_dir: Option<&Path>) -> PathBuf {
    if path.is_absolute() && path.exists() {
        return path.to_path_buf();
    }
    if !path.is_absolute() {
        let rel = list_dir.join(path);
        if rel.exists() {
            return rel;
        }
        if path.exists() {
            return path.to_path_buf();
        }
    }
    if let (Some(dir), Some(name)) = (features_dir, path.file_name()) {
        for candidate in [
            dir.join(name),
            dir.join("visual").join(name),
            dir.join("audio").join(name),
        ] {
            if candidate.exists() {
                return candidate;
            }
        }
    }
    path.to_path_buf()
}

/// The distinct videos of a list in first-appearance order, each with its first entry (one crop per video).
pub fn unique_videos(entries: &[ListEntry]) -> Vec<&ListEntry> {
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .filter(|e| seen.insert(e.video.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_names_drop_crop_suffixes() {
        let (v, c) = video_name_and_crop(Path::new(
            "/x/Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6__5.npy",
        ));
        assert_eq!(v, "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6");
        assert_eq!(c, Some(5));
        let (v, c) = video_name_and_crop(Path::new("a/v=abc__#1_label_A.npy"));
        assert_eq!(v, "v=abc__#1_label_A");
        assert_eq!(c, None);
    }

    #[test]
    fn resolves_foreign_absolute_paths_by_file_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v1__0.npy"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("audio")).unwrap();
        std::fs::write(dir.path().join("audio/v1.npy"), b"x").unwrap();
        let list = dir.path().join("list.csv");
        std::fs::write(
            &list,
            "path,audio_path,label\n/home/nobody/feat/v1__0.npy,/home/nobody/aud/v1.npy,B1-0-0\n",
        )
        .unwrap();
        let feats = tempfile::tempdir().unwrap();
        let e = read_list(&list, Some(dir.path())).unwrap();
        assert_eq!(e[0].path, dir.path().join("v1__0.npy"));
        assert_eq!(
            e[0].audio_path.as_deref(),
            Some(dir.path().join("audio/v1.npy").as_path())
        );
        assert_eq!(e[0].video, "v1");
        // Without a features dir the foreign path is kept as given.
        let e = read_list(&list, Some(feats.path())).unwrap();
        assert_eq!(e[0].path, PathBuf::from("/home/nobody/feat/v1__0.npy"));
    }

    #[test]
    fn missing_column_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("bad.csv");
        std::fs::write(&list, "file,label\na.npy,A\n").unwrap();
        let msg = read_list(&list, None).unwrap_err().to_string();
        assert!(
            msg.contains("bad.csv") && msg.contains("missing column 'path'"),
            "{msg}"
        );
    }
}
