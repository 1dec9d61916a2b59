//! Generates `include/linedb.h` from the C boundary (`src/ffi/`) with
//! cbindgen, using `cbindgen.toml`.
//!
//! - Only `src/ffi/mod.rs` and the submodules it declares are parsed, so no
//!   item of another module can reach the header.
//! - `LINEDB_VERSION_MAJOR`/`_MINOR`/`_PATCH` come from Cargo.toml's version
//!   (`CARGO_PKG_VERSION_*`), so header, library and package cannot drift.
//! - The header is written only when its content changes (through a temporary
//!   file and a rename, so a reader never sees half a header); an unchanged
//!   header keeps its mtime and causes no rebuild.
//! - In a git checkout (a `.git` beside Cargo.toml) a failure is a build
//!   error: the checked-in header must never go stale silently. Anywhere else
//!   (a crates.io tarball, a vendored or read-only copy) it is only a warning,
//!   and the header shipped with the sources stays as it is.

use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HEADER: &str = "include/linedb.h";
const CONFIG: &str = "cbindgen.toml";
const FFI_ROOT: &str = "src/ffi/mod.rs";

fn main() -> ExitCode {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={CONFIG}");
    println!("cargo::rerun-if-changed=src/ffi");
    // So that a deleted or hand-edited header is written again. Writing it
    // makes the next build run this script once more, which then finds the
    // content unchanged and writes nothing: no loop.
    println!("cargo::rerun-if-changed={HEADER}");

    let manifest_dir = match env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            eprintln!("build.rs: CARGO_MANIFEST_DIR is not set (not run by cargo?)");
            return ExitCode::FAILURE;
        }
    };
    let strict = manifest_dir.join(".git").exists();

    match generate(&manifest_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if strict => {
            eprintln!("build.rs: cannot generate {HEADER}: {message}");
            ExitCode::FAILURE
        }
        Err(message) => {
            println!("cargo::warning=linedb: {HEADER} not regenerated: {message}");
            ExitCode::SUCCESS
        }
    }
}

/// Generates the header and writes it if its content changed.
fn generate(manifest_dir: &Path) -> Result<(), String> {
    let config_path = manifest_dir.join(CONFIG);
    let mut config = cbindgen::Config::from_file(&config_path)?;

    let macros = version_macros()?;
    config.after_includes = Some(match config.after_includes.take() {
        Some(text) => format!("{macros}\n{text}"),
        None => macros,
    });

    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(manifest_dir.join(FFI_ROOT))
        .generate()
        .map_err(|error| format!("cbindgen: {error}"))?;
    let mut content = Vec::new();
    bindings.write(&mut content);

    let header_path = manifest_dir.join(HEADER);
    if fs::read(&header_path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    write_atomically(&header_path, &content)
}

/// The `#define`s of the version, from the package version cargo passes.
fn version_macros() -> Result<String, String> {
    let mut text = String::from(
        "\n/* The version of this header: Cargo.toml's version. linedb_version() returns\n   \
         the library's, \"MAJOR.MINOR.PATCH\". */\n",
    );
    for part in ["MAJOR", "MINOR", "PATCH"] {
        let name = format!("CARGO_PKG_VERSION_{part}");
        let value = env::var(&name).map_err(|_| format!("{name} is not set"))?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{name} is not a number: {value:?}"));
        }
        text.push_str(&format!("#define LINEDB_VERSION_{part} {value}\n"));
    }
    Ok(text)
}

/// Writes `content` to a temporary file beside `path`, then renames it over
/// `path`.
fn write_atomically(path: &Path, content: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent", path.display()))?;
    fs::create_dir_all(dir).map_err(|error| format!("create {}: {error}", dir.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = fs::File::create(&temp)
        .and_then(|mut file| file.write_all(content).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&temp, path));
    result.map_err(|error| {
        let _ = fs::remove_file(&temp);
        format!("write {}: {error}", path.display())
    })
}
