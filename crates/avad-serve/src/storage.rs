//! The storage folder every server and worker reaches: `uploads/<job id>` (the videos), `uploads/.partial-*` (uploads
//! still arriving, each locked by the process writing it), `results/<job id>-a<attempt>.{json,csv}` (reports).
//! Paths are made from server-generated identifiers only; a client's file name never becomes one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Prefix of the files that uploads are written to before they are complete.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// The files of a report: `<base>.json`, `.csv` and `.html`.
pub const REPORT_EXTENSIONS: [&str; 3] = ["json", "csv", "html"];

/// The storage folder.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Creates `root/uploads` and `root/results` when missing.
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("uploads"))?;
        std::fs::create_dir_all(root.join("results"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The video of job `id`.
    pub fn upload(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// A new, unique, locked partial upload file: the lock is held as long as the returned file is open, so a
    /// restarting process removes only the partial files nobody is writing ([`Storage::remove_stale_partials`]).
    pub fn create_partial(&self) -> io::Result<(PathBuf, File)> {
        let path = self
            .root
            .join("uploads")
            .join(format!("{PARTIAL_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let f = File::options().write(true).create_new(true).open(&path)?;
        f.lock()?;
        Ok((path, f))
    }

    /// The report files of job `id`'s attempt `attempt`, relative to the storage folder, without extension.
    pub fn result_base(id: &str, attempt: i64) -> String {
        format!("results/{id}-a{attempt}")
    }

    /// `relative` (a `result_base` with an extension) inside the storage folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Removes the partial uploads that no process holds locked (left by a crash); returns how many.
    pub fn remove_stale_partials(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("uploads"))? {
            let entry = entry?;
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                continue;
            }
            let Ok(f) = File::options().write(true).open(entry.path()) else {
                continue;
            };
            if f.try_lock().is_ok() {
                drop(f);
                if std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Removes the report files of `base` (a [`Storage::result_base`]; missing files are fine).
    pub fn remove_results(&self, base: &str) {
        for ext in REPORT_EXTENSIONS {
            let _ = std::fs::remove_file(self.path(&format!("{base}.{ext}")));
        }
    }

    /// Removes job `id`'s video and every report file of it (missing files are fine).
    pub fn remove_job_files(&self, id: &str) {
        let _ = std::fs::remove_file(self.upload(id));
        if let Ok(dir) = std::fs::read_dir(self.root.join("results")) {
            let prefix = format!("{id}-a");
            for e in dir.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unlocked_partials_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let (held, _f) = s.create_partial().unwrap();
        let (stale, f2) = s.create_partial().unwrap();
        drop(f2);
        std::fs::write(s.upload("job"), b"video").unwrap();
        assert_eq!(s.remove_stale_partials().unwrap(), 1);
        assert!(held.exists());
        assert!(!stale.exists());
        assert!(s.upload("job").exists());
    }
}
