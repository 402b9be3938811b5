//! General file helpers every crate uses: atomic writes (temporary file beside the target, fsync, rename) and the
//! clean-up of the temporary files a killed writer leaves behind.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, Result};

/// Writes bytes to `path` atomically: a temporary file beside it is written, flushed and renamed over `path`,
/// so a reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::io(path, e));
    }
    Ok(())
}

/// Deletes the temporary files [`write_atomic`] leaves in `dir` when its process is killed mid-write
/// (`.<name>.<pid>.tmp`), if they were last modified at least `min_age` ago — younger ones may belong to a writer
/// that is still running (e.g. another shard on a shared folder). Returns how many were deleted; unreadable
/// folders count as none.
pub fn remove_stale_temps(dir: &Path, min_age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid_ok = name
                .strip_suffix(".tmp")
                .and_then(|n| n.rsplit_once('.'))
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= min_age);
            name.starts_with('.') && pid_ok && old && std::fs::remove_file(e.path()).is_ok()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_are_removed_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("avad-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            ".a.npy.123.tmp",
            "a.npy",
            ".hidden",
            "b.tmp",
            ".c.npy.x1.tmp",
        ] {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        // Too young: nothing goes.
        assert_eq!(
            remove_stale_temps(&dir, std::time::Duration::from_secs(3600)),
            0
        );
        assert_eq!(remove_stale_temps(&dir, std::time::Duration::ZERO), 1);
        assert!(!dir.join(".a.npy.123.tmp").exists());
        for n in ["a.npy", ".hidden", "b.tmp", ".c.npy.x1.tmp"] {
            assert!(dir.join(n).exists(), "{n} must stay");
        }
        assert_eq!(
            remove_stale_temps(&dir.join("missing"), std::time::Duration::ZERO),
            0
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
