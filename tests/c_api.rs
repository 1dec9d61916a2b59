//! Runs the C tests (`c-tests/`, `make test`) against the library this
//! `cargo test` built, so that `cargo test` covers the C API as C sees it.
//!
//! `cargo test` compiles the library only as the rlib it links into the test
//! programs: `target/<profile>/liblinedb.so` and `liblinedb.a` are not put in
//! place by it (checked with a clean target directory). So this test first
//! runs `cargo build --lib --test c_api` in the same target directory, with
//! the `test` profile: the same profile and the same features (dev-dependency
//! features included, which `--test` brings in) as the `cargo test` that runs
//! it, so the library is already fresh and is only copied to the profile
//! directory, not built again. Cargo's JSON messages then say where the
//! shared and static library are.
//!
//! Missing tools (`cc`, `c++`, `make`, `nm`, `pkg-config`) fail the test loudly; it never
//! skips.

// A test fails by panicking, helpers included.
#![allow(clippy::panic)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn c_tests_pass_against_the_shared_and_the_static_library() {
    for tool in ["cc", "c++", "make", "nm", "pkg-config"] {
        require_tool(tool);
    }

    let libdir = build_library();
    let build_dir = libdir.join("c-tests");
    let output = run(Command::new("make")
        .arg("-C")
        .arg(Path::new(MANIFEST_DIR).join("c-tests"))
        .arg("test")
        .arg(format!("LIBDIR={}", libdir.display()))
        .arg(format!("BUILD={}", build_dir.display()))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "make -C c-tests test failed: {}",
        output.status
    );

    // Each C program ends with "N passed, M failed": seven programs ran
    // (test_version and test_api, each against the shared and the static
    // library; the C++ one; test_version built with pkg-config against an
    // installed copy, shared and static), each with some checks and no
    // failure.
    let summaries: Vec<(u64, u64)> = stdout.lines().filter_map(summary).collect();
    assert_eq!(
        summaries.len(),
        7,
        "expected 7 C test programs to report, got {summaries:?}"
    );
    // Then the quickstart example (examples/quickstart.c) ran to its end.
    assert!(
        stdout.lines().any(|line| line.trim() == "quickstart: ok"),
        "examples/quickstart.c did not report success"
    );
    for (passed, failed) in summaries {
        assert!(
            passed > 0 && failed == 0,
            "a C test program reported {passed} passed, {failed} failed"
        );
    }
}

/// The ctypes binding example (`examples/python/`) passes its own tests
/// against the library this `cargo test` built. Skipped, saying so, only
/// when `python3` cannot be run (CI installs it).
#[test]
fn python_binding_example_passes() {
    let available = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        eprintln!("SKIPPED: python3 is not installed; examples/python was not tested");
        return;
    }
    let libdir = build_library();
    let output = run(Command::new("python3")
        .arg(Path::new(MANIFEST_DIR).join("examples/python/test_linedb.py"))
        .env("LINEDB_LIB", libdir.join("liblinedb.so"))
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "examples/python/test_linedb.py failed: {}",
        output.status
    );
    let summaries: Vec<(u64, u64)> = stdout.lines().filter_map(summary).collect();
    assert!(
        matches!(summaries.as_slice(), [(passed, 0)] if *passed > 0),
        "expected one \"N passed, 0 failed\" line, got {summaries:?}"
    );
}

/// The header declares only names of the C API: every macro, type, enum
/// value and function starts with `LINEDB_` or `linedb_` (or is `linedb`,
/// the handle), but the Arrow C Data and Stream Interfaces' own names
/// (their structs and macros, defined only where Arrow's headers did not
/// define them first: the ABI's names are the standard's).
#[test]
fn header_declares_only_linedb_names() {
    let path = Path::new(MANIFEST_DIR).join("include/linedb.h");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let names = declared_names(&strip_comments(&text));

    for expected in [
        "LINEDB_H",
        "LINEDB_VERSION_MAJOR",
        "linedb_code",
        "LINEDB_ERR_LOCKED",
        "linedb_version",
        "linedb",
        "linedb_options",
        "linedb_open",
        "linedb_close",
        "linedb_create_database",
        "linedb_create_token",
        "linedb_revoke_token",
        "linedb_result",
        "linedb_write",
        "linedb_line_fn",
        "linedb_query",
        "linedb_stats",
        "linedb_stats_get",
        "linedb_field_type_get",
        "linedb_checkpoint",
        "LINEDB_OPEN_NO_AUTH",
        "LINEDB_TOKEN_BUF",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "did not find {expected} in {names:?}"
        );
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|name| {
            // `linedb` itself is the opaque handle of API.md.
            let arrow = matches!(name.as_str(), "ArrowSchema" | "ArrowArray" | "ArrowArrayStream")
                || name.starts_with("ARROW_C_")
                || name.starts_with("ARROW_FLAG_");
            !(arrow || name.as_str() == "linedb" || name.starts_with("linedb_") || name.starts_with("LINEDB_"))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "include/linedb.h declares names outside the C API: {foreign:?}"
    );
}

/// The names a comment-free C header declares: macros, and for each
/// top-level declaration (up to its `;`) the enum or struct tag, the enum
/// values, the typedef name, the function name or the function pointer
/// type's name. Struct fields and parameter names are not declarations of
/// the API's namespace and are left out.
fn declared_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut declarations = String::new();
    for line in code.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#define ") {
            names.push(first_identifier(rest));
        } else if line.starts_with('#') || line == "extern \"C\" {" || line == "}" {
            // Other preprocessor lines, and the C++ `extern "C"` block.
        } else {
            declarations.push_str(line);
            declarations.push(' ');
        }
    }

    let mut depth = 0_usize;
    let mut declaration = String::new();
    for c in declarations.chars() {
        declaration.push(c);
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => {
                declaration_names(declaration.trim(), &mut names);
                declaration.clear();
            }
            _ => {}
        }
    }
    assert!(
        declaration.trim().is_empty(),
        "unterminated declaration: {declaration}"
    );
    names
}

fn declaration_names(declaration: &str, names: &mut Vec<String>) {
    let declaration = declaration.trim_end_matches(';');
    if let (Some(open), Some(close)) = (declaration.find('{'), declaration.rfind('}')) {
        // `typedef enum linedb_code { LINEDB_OK = 0, ... } linedb_code`
        names.push(last_identifier(&declaration[..open]));
        if declaration[..open].contains("enum") {
            for value in declaration[open + 1..close].split(',') {
                if !value.trim().is_empty() {
                    names.push(first_identifier(value));
                }
            }
        }
        // `struct ArrowSchema { ... }` (no typedef) names nothing after.
        if !declaration[close + 1..].trim().is_empty() {
            names.push(last_identifier(&declaration[close + 1..]));
        }
    } else if let Some(pointer) = declaration.find("(*") {
        // `typedef int (*linedb_line_fn)(void *ctx, ...)`
        names.push(first_identifier(&declaration[pointer + 2..]));
    } else if let Some(paren) = declaration.find('(') {
        // `const char *linedb_version(void)`
        names.push(last_identifier(&declaration[..paren]));
    } else {
        // `typedef struct linedb linedb`
        names.push(last_identifier(declaration));
    }
}

/// Builds the library (see the module comment) and answers the directory
/// holding `liblinedb.so` and `liblinedb.a`.
fn build_library() -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(MANIFEST_DIR).args([
        "build",
        "--lib",
        "--test",
        "c_api",
        "--offline",
        "--message-format=json",
    ]);
    if let Some(target) = Target::of_this_test() {
        command.arg("--target-dir").arg(&target.dir);
        if target.profile_dir == "debug" {
            command.args(["--profile", "test"]);
        } else {
            command.args(["--profile", &target.profile_dir]);
        }
        if let Some(triple) = &target.triple {
            command.args(["--target", triple]);
        }
    }
    let output = run(&mut command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        panic!(
            "cargo build of the library failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The `compiler-artifact` message of the library lists the files put in
    // place, e.g. ".../target/debug/liblinedb.so".
    let shared = json_strings(&stdout)
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.file_name().is_some_and(|name| name == "liblinedb.so"))
        .unwrap_or_else(|| panic!("cargo build named no liblinedb.so:\n{stdout}"));
    let libdir = shared.parent().map(Path::to_path_buf).unwrap_or_default();
    for file in ["liblinedb.so", "liblinedb.a"] {
        assert!(
            libdir.join(file).is_file(),
            "{} is missing after cargo build",
            libdir.join(file).display()
        );
    }
    libdir
}

/// Where this test's executable lives: `<dir>/[<triple>/]<profile_dir>/deps/`.
struct Target {
    dir: PathBuf,
    triple: Option<String>,
    profile_dir: String,
}

impl Target {
    fn of_this_test() -> Option<Target> {
        let exe = env::current_exe().ok()?;
        let profile = exe.parent()?.parent()?;
        let profile_dir = profile.file_name()?.to_str()?.to_owned();
        let above = profile.parent()?;
        // Cargo marks the root of a target directory with CACHEDIR.TAG.
        if above.join("CACHEDIR.TAG").is_file() {
            return Some(Target {
                dir: above.to_path_buf(),
                triple: None,
                profile_dir,
            });
        }
        let root = above.parent()?;
        if root.join("CACHEDIR.TAG").is_file() {
            let triple = above.file_name()?.to_str()?.to_owned();
            return Some(Target {
                dir: root.to_path_buf(),
                triple: Some(triple),
                profile_dir,
            });
        }
        None
    }
}

/// Fails the test, loudly, when `tool` cannot be run.
fn require_tool(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        ok,
        "`{tool}` is required for the C API tests and cannot be run: install it \
         (Debian: apt-get install gcc g++ make binutils pkg-config)"
    );
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

/// `"N passed, M failed"` alone on a line.
fn summary(line: &str) -> Option<(u64, u64)> {
    let (passed, failed) = line.trim().split_once(", ")?;
    let passed = passed.strip_suffix(" passed")?.parse().ok()?;
    let failed = failed.strip_suffix(" failed")?.parse().ok()?;
    Some((passed, failed))
}

/// Every JSON string literal in `text`, unescaped (enough for paths).
fn json_strings(text: &str) -> Vec<String> {
    let mut strings = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut string = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => string.push('\n'),
                    Some('t') => string.push('\t'),
                    Some(other) => string.push(other),
                    None => break,
                },
                other => string.push(other),
            }
        }
        strings.push(string);
    }
    strings
}

/// The C text without `/* */` and `//` comments (line breaks kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after.find("*/").map_or(after.len(), |i| i + 2);
            out.extend(after[..end.min(after.len())].chars().filter(|&c| c == '\n'));
            rest = &after[end.min(after.len())..];
        } else if let Some(after) = rest.strip_prefix("//") {
            let end = after.find('\n').unwrap_or(after.len());
            rest = &after[end..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn first_identifier(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|&c| is_ident(c))
        .collect()
}

fn last_identifier(text: &str) -> String {
    let text = text.trim_end();
    let start = text.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
    text[start..].to_owned()
}

/// The header check itself finds names outside the API.
#[test]
fn declared_names_finds_every_kind_of_declaration() {
    let header = "#ifndef LINEDB_H\n#define LINEDB_H\n#define OTHER_MACRO 1\n\
        typedef enum linedb_e {\n  LINEDB_A = 0,\n  B_VALUE = 1,\n} linedb_e;\n\
        typedef struct linedb_s {\n  uint32_t free_field;\n} other_s;\n\
        typedef struct opaque_t opaque_t;\n\
        typedef int (*other_fn)(void *ctx, const char *line, size_t len);\n\
        #ifdef __cplusplus\nextern \"C\" {\n#endif\n\
        linedb_code linedb_open(const char *dir,\n                        const linedb_options *opts,\n\
                                linedb **out);\n\
        const char *other_function(void);\n\
        #ifdef __cplusplus\n}\n#endif\n#endif\n";
    let names = declared_names(&strip_comments(header));
    assert_eq!(
        names,
        [
            "LINEDB_H",
            "OTHER_MACRO",
            "linedb_e",
            "LINEDB_A",
            "B_VALUE",
            "linedb_e",
            "linedb_s",
            "other_s",
            "opaque_t",
            "other_fn",
            "linedb_open",
            "other_function",
        ]
    );
    assert_eq!(strip_comments("a /* b\nc */ d // e\nf"), "a \n d \nf");
}
