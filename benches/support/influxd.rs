//! A real `influxd` (Debian's `influxdb`, InfluxDB 1.6) for the benches:
//! started with every directory in a temporary one and every listener on
//! 127.0.0.1 (checked), killed on drop; and a keep-alive HTTP/1.1 client.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchDir;


/// A running influxd, killed on drop.
pub struct Influxd {
    pub child: Child,
    pub port: u16,
    pub dir: BenchDir,
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Influxd {
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// `influxd config` with every directory under `dir`, every listener on
/// 127.0.0.1 at a free port, usage reporting and the `_internal` monitor
/// store off.
pub fn influxd_config(bin: &Path, dir: &Path, overrides: &[(&str, &str, &str)]) -> Result<(String, u16), String> {
    let out = Command::new(bin)
        .arg("config")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("influxd config: {e}"))?;
    let text = String::from_utf8(out.stdout).map_err(|e| format!("influxd config: {e}"))?;
    let mut section = String::new();
    let mut http_port = None;
    let mut conf = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_owned();
            conf.push_str(line);
            conf.push('\n');
            continue;
        }
        let key = t.split('=').next().unwrap_or("").trim();
        let over = overrides.iter().find(|(sec, k, _)| *sec == section && *k == key).map(|(_, _, v)| (*v).to_owned());
        let new = match key {
            _ if over.is_some() => over,
            "dir" => Some(format!("\"{}\"", dir.join(&section).display())),
            "wal-dir" => Some(format!("\"{}\"", dir.join("wal").display())),
            "bind-socket" => Some(format!("\"{}\"", dir.join("influxd.sock").display())),
            "bind-address" => {
                let port = free_port();
                if section == "http" {
                    http_port = Some(port);
                }
                Some(format!("\"127.0.0.1:{port}\""))
            }
            "reporting-enabled" => Some("false".to_owned()),
            "store-enabled" if section == "monitor" => Some("false".to_owned()),
            _ => None,
        };
        match new {
            Some(v) => conf.push_str(&format!("{indent}{key} = {v}\n")),
            None => {
                conf.push_str(line);
                conf.push('\n');
            }
        }
    }
    for l in conf.lines() {
        let t = l.trim_start();
        if t.starts_with("bind-address") && !t.contains("\"127.0.0.1:") {
            return Err(format!("config left a listener off loopback: {t}"));
        }
    }
    if !conf.contains("reporting-enabled = false") {
        return Err("config has no reporting-enabled = false".into());
    }
    let port = http_port.ok_or("influxd config has no [http] bind-address")?;
    Ok((conf, port))
}

/// Local addresses of the TCP sockets `pid` listens on.
pub fn listening(pid: u32) -> Vec<String> {
    let mut inodes = Vec::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(t) = fs::read_link(e.path()) {
                let t = t.to_string_lossy().into_owned();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.push(i.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { continue };
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                out.push(f[1].to_owned());
            }
        }
    }
    out
}

/// Whether a /proc/net/tcp{,6} local address is 127.0.0.1.
pub fn is_loopback_v4(hexaddr: &str) -> bool {
    hexaddr.starts_with("0100007F:") || hexaddr.starts_with("0000000000000000FFFF00000100007F:")
}

pub fn start_influxd(bin: &Path) -> Result<Influxd, String> {
    start_influxd_with(bin, &[])
}

/// [`start_influxd`] with settings of its config changed: (section, key,
/// value as TOML).
pub fn start_influxd_with(bin: &Path, overrides: &[(&str, &str, &str)]) -> Result<Influxd, String> {
    let dir = BenchDir::new("influxd");
    let (conf, port) = influxd_config(bin, dir.path(), overrides)?;
    let conf_path = dir.path().join("influxd.conf");
    fs::write(&conf_path, conf).map_err(|e| format!("write config: {e}"))?;
    let log = File::create(dir.path().join("influxd.log")).map_err(|e| format!("log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("log: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.arg("-config").arg(&conf_path).stdin(Stdio::null()).stdout(log).stderr(log2).current_dir(dir.path());
    // SAFETY: prctl is async-signal-safe and touches no memory of ours; it
    // makes the kernel kill influxd should this process die without
    // running the Drop guard.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("start influxd: {e}"))?;
    let mut d = Influxd { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(st)) = d.child.try_wait() {
            return Err(format!("influxd exited ({st}):\n{}", d.log_tail()));
        }
        let mut c = Http::new(port);
        if let Ok((204, _)) = c.request("GET", "/ping", None, b"") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("influxd did not answer /ping in 60 s:\n{}", d.log_tail()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let socks = listening(d.child.id());
    if socks.is_empty() || !socks.iter().all(|s| is_loopback_v4(s)) {
        return Err(format!("influxd listens off loopback or not at all: {socks:?}"));
    }
    Ok(d)
}

/// A keep-alive HTTP/1.1 client to 127.0.0.1 only.
pub struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    pub fn new(port: u16) -> Http {
        Http { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), conn: None }
    }

    pub fn request(&mut self, method: &str, path: &str, ctype: Option<&str>, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, ctype, body) {
            Err(_) if reused => {
                // The server may have closed an idle connection.
                self.conn = None;
                self.try_request(method, path, ctype, body)
            }
            r => r,
        }
    }

    pub fn try_request(&mut self, method: &str, path: &str, ctype: Option<&str>, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        let r = self.exchange(method, path, ctype, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    pub fn exchange(&mut self, method: &str, path: &str, ctype: Option<&str>, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            s.set_write_timeout(Some(Duration::from_secs(120)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::with_capacity(64 << 10, s));
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len());
        if let Some(t) = ctype {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        head.push_str("Connection: keep-alive\r\n\r\n");
        let s = conn.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        s.flush()?;

        let mut line = String::new();
        read_line(conn, &mut line)?;
        let mut parts = line.split_whitespace();
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut close) = (None, false, version == "HTTP/1.0");
        for _ in 0..200 {
            read_line(conn, &mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => {
                    length = Some(v.parse::<usize>().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?)
                }
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v.contains("close"),
                _ => {}
            }
        }
        if !line.trim_end().is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "too many headers"));
        }
        let mut body = Vec::new();
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        } else if chunked {
            loop {
                read_line(conn, &mut line)?;
                let size = line.trim_end().split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    for _ in 0..200 {
                        read_line(conn, &mut line)?;
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let at = body.len();
                body.resize(at + size, 0);
                conn.read_exact(&mut body[at..])?;
                read_line(conn, &mut line)?;
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            conn.read_exact(&mut body)?;
        } else {
            conn.take(64 << 20).read_to_end(&mut body)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}

pub fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    let n = r.by_ref().take(64 << 10).read_line(line)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    if !line.ends_with('\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "header line too long"));
    }
    Ok(())
}


impl Http {
    /// `CREATE DATABASE <name>` through `/query`.
    pub fn create_database(&mut self, name: &str) -> Result<(), String> {
        let body = format!("q=CREATE+DATABASE+{name}");
        let (st, reply) = self
            .request("POST", "/query", Some("application/x-www-form-urlencoded"), body.as_bytes())
            .map_err(|e| format!("influxd CREATE DATABASE: {e}"))?;
        if st != 200 || String::from_utf8_lossy(&reply).contains("\"error\"") {
            return Err(format!("influxd CREATE DATABASE answered {st}: {}", String::from_utf8_lossy(&reply)));
        }
        Ok(())
    }

    /// One batch of line protocol (nanosecond times) into `db`; 204 or an error.
    pub fn write_batch(&mut self, db: &str, batch: &str) -> Result<(), String> {
        let path = format!("/write?db={db}&precision=ns");
        let (st, reply) = self
            .request("POST", &path, Some("text/plain; charset=utf-8"), batch.as_bytes())
            .map_err(|e| format!("influxd write: {e}"))?;
        if st != 204 {
            return Err(format!("influxd write answered {st}: {}", String::from_utf8_lossy(&reply)));
        }
        Ok(())
    }
}
