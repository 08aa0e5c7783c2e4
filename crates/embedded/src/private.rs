//! The data directory holds health data and the token secret: it and the
//! files in it are the running user's only (0700 and 0600 on Unix).

use std::path::Path;

/// Creates a directory (and its missing parents) that only its owner may enter.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Makes an existing file its owner's only.
pub fn restrict_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Options that create a file only its owner may read or write.
pub fn file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Whether anyone but the owner may read or write the file.
pub fn open_to_others(metadata: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o077 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// Shortest secret accepted: HS256 and HMAC-SHA256 want a key as long as their hash.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path} cannot be read or written: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} may be read by other users: make it yours only (chmod 600 {0})")]
    OpenToOthers(String),
    #[error(
        "{path} holds {bytes} bytes, fewer than {MIN_SECRET_BYTES}: delete it and a new one is made (what was signed or derived with the old one no longer matches)"
    )]
    Short { path: String, bytes: usize },
}

/// The secret kept in `path`: made on first use (whole, 0600), refused
/// afterwards if it is short (a crash between creating and writing it, or
/// a hand-made one) or others may read it.
pub fn secret_file(path: &Path) -> Result<String, SecretError> {
    let shown = || path.display().to_string();
    let io = |source| SecretError::Io {
        path: shown(),
        source,
    };
    if let Some(parent) = path.parent() {
        create_dir(parent).map_err(io)?;
    }
    match std::fs::metadata(path) {
        Ok(metadata) => read_secret(path, &metadata),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_secret(path),
        Err(error) => Err(io(error)),
    }
}

fn read_secret(path: &Path, metadata: &std::fs::Metadata) -> Result<String, SecretError> {
    let shown = path.display().to_string();
    if open_to_others(metadata) {
        return Err(SecretError::OpenToOthers(shown));
    }
    let secret = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
        path: shown.clone(),
        source,
    })?;
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::Short {
            path: shown,
            bytes: secret.len(),
        });
    }
    Ok(secret.to_owned())
}

/// A new secret, made whole before it is in place: written to a file of
/// its own (0600), then linked to its name, which fails if another process
/// put one there first (then theirs is used).
fn create_secret(path: &Path) -> Result<String, SecretError> {
    use std::io::Write;
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut file| {
        file.write_all(secret.as_bytes())?;
        file.sync_all()
    });
    let placed = written.and_then(|()| std::fs::hard_link(&partial, path));
    let _ = std::fs::remove_file(&partial);
    let io = |source| SecretError::Io {
        path: path.display().to_string(),
        source,
    };
    match placed {
        Ok(()) => Ok(secret),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            read_secret(path, &std::fs::metadata(path).map_err(io)?)
        }
        Err(error) => Err(io(error)),
    }
}

/// The data directory's key for calendar UIDs and booking references
/// (`calendar-key`), made on first use.
pub fn calendar_key(data_dir: &Path) -> Result<citas_notify::CalendarKey, SecretError> {
    let path = data_dir.join("calendar-key");
    let secret = secret_file(&path)?;
    citas_notify::CalendarKey::new(secret.as_bytes()).map_err(|e| SecretError::Short {
        path: path.display().to_string(),
        bytes: e.0,
    })
}
