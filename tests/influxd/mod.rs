//! A real `influxd` (Debian's `influxdb` package, 1.6) for tests: started
//! on 127.0.0.1 with a temporary directory, spoken to over plain HTTP/1.1,
//! killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Influxd {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

/// The `influxd` binary, if installed.
pub fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LINEDB_INFLUXD") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("influxd")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin/influxd")])
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Influxd {
    /// Starts one; `None` (after a loud message) where `influxd` is not
    /// installed, except under CI, which installs it: there it panics.
    pub fn start(tag: &str) -> Option<Influxd> {
        let Some(bin) = binary() else {
            let msg =
                "influxd is not installed (Debian package `influxdb`): the comparison with a real influxd is SKIPPED";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI must install it (.ci/run)");
            }
            eprintln!("\n\n!!!!!!!! {msg} !!!!!!!!\n\n");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("linedb-influxd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (port, rpc) = (free_port(), free_port());
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n  logging-enabled = false\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [continuous_queries]\n  enabled = false\n",
            d = dir.display()
        );
        let conf_path = dir.join("influxdb.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.join("influxd.log")).unwrap();
        let child = Command::new(bin)
            .arg("-config")
            .arg(&conf_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start influxd");
        let server = Influxd { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((204, _)) = server.request("GET", "/ping", b"") {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping within 30 s: see {}",
                server.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request; the status and the body.
    pub fn request(&self, method: &str, target: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split =
            raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut body = raw[split + 4..].to_vec();
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        Ok((status, body))
    }

    pub fn query(&self, db: &str, q: &str) -> (u16, String) {
        let target = format!("/query?db={}&q={}", encode(db), encode(q));
        let (status, body) = self.request("GET", &target, b"").expect("influxd query");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    pub fn create_database(&self, db: &str) {
        let (status, body) =
            self.request("POST", &format!("/query?q={}", encode(&format!("CREATE DATABASE \"{db}\""))), b"").unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    pub fn write(&self, db: &str, lines: &[u8]) -> (u16, String) {
        let (status, body) =
            self.request("POST", &format!("/write?db={}&precision=ns", encode(db)), lines).expect("influxd write");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// Percent-encoding of a query parameter.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
