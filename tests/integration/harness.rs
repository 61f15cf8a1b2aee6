//! The test harness: starts the real server on a free port and stops it, a minimal RESP2/RESP3
//! client, raw-socket helpers for protocol tests, and Redis Cluster's key-slot function so a
//! test can choose keys that live on different shards.
//!
//! A [`Server`] is killed when dropped; if the test is panicking at that moment, its captured
//! stdout/stderr is printed, so a failure shows what the server logged.

#![allow(dead_code)] // Not every test module uses every helper.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// The server binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_shardis");

/// How long a server may take to answer its first PING. Generous: the machine is shared.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// Read timeout on test connections, so a missing reply fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The shard counts the main tests run with: one shard (no routing), and four (forwarding and
/// the coordinator in play).
pub const SHARD_COUNTS: [usize; 2] = [1, 4];

// ---------------------------------------------------------------------------------------------
// Scratch directories and ports
// ---------------------------------------------------------------------------------------------

/// A scratch directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, SeqCst);
        let path = std::env::temp_dir().join(format!("shardis-it-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on. Ports come from below Linux's ephemeral range (32768 and up), so
/// no outgoing connection holds one, and are spread by pid so that two test processes running
/// at once rarely try the same ones; the server fails fast on a taken port and
/// [`Server::launch`] then retries with another.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = (std::process::id() as usize * 97) % 12000;
    loop {
        let n = NEXT.fetch_add(1, SeqCst);
        let port = (20000 + (base + n) % 12000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// A running `shardis` process, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub args: Vec<String>,
    log_path: PathBuf,
    /// The server's working directory (and where its log is captured).
    pub dir: TempDir,
}

enum StartError {
    PortTaken,
    Failed(String),
}

impl Server {
    /// Starts `shardis --port P --bind 127.0.0.1 --save '' <args>` and waits until it answers
    /// PING.
    pub fn start(args: &[&str]) -> Server {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Server::launch(move |port, _dir| {
            let mut v: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""].iter().map(|s| s.to_string()).collect();
            v.extend(args.iter().cloned());
            v
        })
    }

    /// Starts the server with the arguments `argv(port, dir)` builds for a free port and the
    /// server's scratch directory (its working directory), and waits until it answers PING.
    pub fn launch(argv: impl Fn(u16, &Path) -> Vec<String>) -> Server {
        Server::launch_opts(argv, &[], false)
    }

    /// [`Server::launch`] with environment variables (test hooks), returning while the
    /// server still loads if `loading_ok`.
    pub fn launch_opts(argv: impl Fn(u16, &Path) -> Vec<String>, envs: &[(&str, &str)], loading_ok: bool) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = TempDir::new("srv");
            let port = free_port();
            let args = argv(port, dir.path());
            let log_path = dir.path().join("server.log");
            let log = File::create(&log_path).expect("create the server log file");
            let child = Command::new(BIN)
                .args(&args)
                .envs(envs.iter().copied())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
            let mut server = Server { child: Some(child), port, args, log_path, dir };
            match server.wait_ready(loading_ok) {
                Ok(()) => return server,
                Err(StartError::PortTaken) if attempt < 5 => continue,
                Err(StartError::PortTaken) => panic!("no free port after {attempt} attempts"),
                Err(StartError::Failed(why)) => panic!("shardis {:?} did not start: {why}", server.args),
            }
        }
    }

    /// Starts the server like [`Server::launch`] but returns as soon as it answers at all, even
    /// `-LOADING` while it loads its dataset.
    pub fn launch_loading(argv: impl Fn(u16, &Path) -> Vec<String>) -> Server {
        Server::launch_opts(argv, &[], true)
    }

    /// Polls connect + PING with a short backoff until the server answers (any reply counts:
    /// with requirepass, PING answers NOAUTH). Unless `loading_ok`, first waits for the log's
    /// "Ready to accept connections" (the dataset is loaded: until then commands get -LOADING,
    /// and a probe's -LOADING would count in the test's error statistics).
    fn wait_ready(&mut self, loading_ok: bool) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut backoff = Duration::from_millis(2);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = self.log();
                if log.contains("Address already in use") {
                    return Err(StartError::PortTaken);
                }
                return Err(StartError::Failed(format!("exited with {status} before answering PING; log:\n{log}")));
            }
            let loaded = loading_ok || self.log().contains("Ready to accept connections");
            if !loaded {
                // Not probing yet.
            } else if let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut first = [0u8; 9];
                let answered = s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() && s.read_exact(&mut first[..1]).is_ok() && (first[0] == b'+' || first[0] == b'-');
                let loading = answered && first[0] == b'-' && s.read_exact(&mut first[1..]).is_ok() && &first == b"-LOADING ";
                if answered && (loading_ok || !loading) {
                    // QUIT and wait for the close, so that tests counting clients do not see
                    // this probe (the server unregisters a client before closing its socket).
                    let _ = s.write_all(b"*1\r\n$4\r\nQUIT\r\n");
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(StartError::Failed(format!("no PING reply within {STARTUP_DEADLINE:?}; log:\n{}", self.log())));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// A new connection with the harness's RESP client.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }

    /// A new connection that switched to RESP3 with HELLO 3.
    pub fn conn3(&self) -> Conn {
        let mut c = self.conn();
        let r = c.cmd(["HELLO", "3"]);
        assert!(matches!(r, Reply::Map(_)), "HELLO 3 should reply with a map, got {r:?}");
        c
    }

    /// A client of the `redis` crate (sync API).
    pub fn redis_client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis::Client::open")
    }

    /// `INFO <section>` as a field -> value map.
    pub fn info(&self, section: &str) -> HashMap<String, String> {
        self.conn().info(section)
    }

    /// The number of shards the server runs, as INFO server reports it.
    pub fn shards(&self) -> usize {
        let info = self.info("server");
        info.get("shards").unwrap_or_else(|| panic!("INFO server has no shards field: {info:?}")).parse().expect("shards is a number")
    }

    /// The server's resident set size in bytes, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc/<pid>/status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
        let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value");
        kb * 1024
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed: {}", self.pid(), io::Error::last_os_error());
    }

    /// Waits up to `timeout` for the process to exit, and reaps it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- shardis {:?} (port {}) log ----\n{}---- end of log ----", self.args, self.port, self.log());
        }
    }
}

/// Runs `f` against a fresh server for each of [`SHARD_COUNTS`], started with
/// `--shards N <extra>`. The server's log (which names its arguments) is printed if `f` panics.
pub fn for_each_shards(extra: &[&str], f: impl Fn(&Server)) {
    for n in SHARD_COUNTS {
        let n = n.to_string();
        let mut args = vec!["--shards", n.as_str()];
        args.extend_from_slice(extra);
        let server = Server::start(&args);
        f(&server);
    }
}

/// Runs the binary with `args` in `dir` and waits (bounded) for it to exit: for startup
/// failures. Returns the exit status and everything it printed.
pub fn run_to_exit(args: &[&str], dir: &Path) -> (ExitStatus, String) {
    let log_path = dir.join("run.log");
    let log = File::create(&log_path).expect("create log");
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn shardis");
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
            return (status, out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
            panic!("shardis {args:?} was expected to exit but kept running; output:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` until it holds or `timeout` passes. For correctness checks that need the server
/// to get somewhere eventually (active expiry, a killed client's socket closing), with a
/// generous bound; never a timing goal.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// RESP replies
// ---------------------------------------------------------------------------------------------

/// One reply, RESP2 or RESP3.
#[derive(Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// `$`; `None` is RESP2's nil bulk (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*`; `None` is RESP2's nil array (`*-1`).
    Array(Option<Vec<Reply>>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    Double(f64),
    /// RESP3 `_`.
    Null,
    Bool(bool),
    /// `=`: the format ("txt") and the text.
    Verbatim(String, Vec<u8>),
    BigNumber(String),
    /// `!`: a bulk error.
    BlobError(String),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s:?}"),
            Reply::Error(s) => write!(f, "-{s:?}"),
            Reply::Int(i) => write!(f, ":{i}"),
            Reply::Bulk(None) => write!(f, "nil"),
            Reply::Bulk(Some(b)) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Array(None) => write!(f, "nil-array"),
            Reply::Array(Some(a)) => f.debug_list().entries(a).finish(),
            Reply::Map(m) => f.debug_map().entries(m.iter().map(|(k, v)| (k, v))).finish(),
            Reply::Set(s) => write!(f, "~{s:?}"),
            Reply::Push(p) => write!(f, ">{p:?}"),
            Reply::Double(d) => write!(f, ",{d}"),
            Reply::Null => write!(f, "_null"),
            Reply::Bool(b) => write!(f, "#{b}"),
            Reply::Verbatim(fmt, t) => write!(f, "={fmt}:{:?}", String::from_utf8_lossy(t)),
            Reply::BigNumber(n) => write!(f, "({n}"),
            Reply::BlobError(e) => write!(f, "!{e:?}"),
        }
    }
}

impl Reply {
    /// A bulk reply holding `s` (for comparisons).
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Some(s.as_ref().to_vec()))
    }

    /// An array of bulk replies (for comparisons).
    pub fn bulks<S: AsRef<[u8]>>(items: &[S]) -> Reply {
        Reply::Array(Some(items.iter().map(Reply::bulk).collect()))
    }

    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None) | Reply::Null)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BlobError(_))
    }

    pub fn as_int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The bytes of a simple string, bulk or verbatim reply.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Reply::Simple(s) => s.as_bytes(),
            Reply::Bulk(Some(b)) | Reply::Verbatim(_, b) => b,
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    pub fn as_str(&self) -> String {
        String::from_utf8(self.as_bytes().to_vec()).expect("reply is UTF-8")
    }

    pub fn as_error(&self) -> &str {
        match self {
            Reply::Error(e) | Reply::BlobError(e) => e,
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    /// The elements of an array, set or push reply.
    pub fn as_array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(a)) | Reply::Set(a) | Reply::Push(a) => a,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    /// An array of strings as Rust strings.
    pub fn strings(&self) -> Vec<String> {
        self.as_array().iter().map(Reply::as_str).collect()
    }

    /// The pairs of a RESP3 map, or of a RESP2 flat array of alternating keys and values.
    pub fn pairs(&self) -> Vec<(Reply, Reply)> {
        match self {
            Reply::Map(m) => m.clone(),
            Reply::Array(Some(a)) => {
                assert!(a.len() % 2 == 0, "odd-length array is not a map: {self:?}");
                a.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect()
            }
            other => panic!("expected a map reply, got {other:?}"),
        }
    }

    /// The value under a string key of a map reply (RESP3 map or RESP2 flat array).
    pub fn field(&self, key: &str) -> Option<Reply> {
        self.pairs().into_iter().find(|(k, _)| k.as_bytes() == key.as_bytes()).map(|(_, v)| v)
    }
}

/// Reads one reply. An EOF before a whole reply is `UnexpectedEof`.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(r)?;
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "empty reply line"));
    }
    let rest = String::from_utf8_lossy(&line[1..]).into_owned();
    let num = |s: &str| -> io::Result<i64> { s.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad number {s:?}"))) };
    Ok(match line[0] {
        b'+' => Reply::Simple(rest),
        b'-' => Reply::Error(rest),
        b':' => Reply::Int(num(&rest)?),
        b'$' => match num(&rest)? {
            -1 => Reply::Bulk(None),
            n => Reply::Bulk(Some(read_blob(r, n as usize)?)),
        },
        b'*' => match num(&rest)? {
            -1 => Reply::Array(None),
            n => Reply::Array(Some((0..n).map(|_| read_reply(r)).collect::<io::Result<_>>()?)),
        },
        b'%' => Reply::Map((0..num(&rest)?).map(|_| Ok((read_reply(r)?, read_reply(r)?))).collect::<io::Result<_>>()?),
        b'~' => Reply::Set((0..num(&rest)?).map(|_| read_reply(r)).collect::<io::Result<_>>()?),
        b'>' => Reply::Push((0..num(&rest)?).map(|_| read_reply(r)).collect::<io::Result<_>>()?),
        b'_' => Reply::Null,
        b'#' => Reply::Bool(rest == "t"),
        b',' => Reply::Double(match rest.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            s => s.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad double {s:?}")))?,
        }),
        b'(' => Reply::BigNumber(rest),
        b'=' => {
            let blob = read_blob(r, num(&rest)? as usize)?;
            if blob.len() < 4 || blob[3] != b':' {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "verbatim string without a format"));
            }
            Reply::Verbatim(String::from_utf8_lossy(&blob[..3]).into_owned(), blob[4..].to_vec())
        }
        b'!' => Reply::BlobError(String::from_utf8_lossy(&read_blob(r, num(&rest)? as usize)?).into_owned()),
        b'|' => {
            // An attribute map precedes the real reply; the tests do not use attributes.
            for _ in 0..num(&rest)? * 2 {
                read_reply(r)?;
            }
            read_reply(r)?
        }
        other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown reply type {:?} in line {:?}", other as char, rest))),
    })
}

/// One CRLF-terminated line, without the CRLF.
fn read_line(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("line not ended by CRLF: {:?}", String::from_utf8_lossy(&line))));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn read_blob(r: &mut impl BufRead, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n + 2];
    r.read_exact(&mut buf)?;
    if &buf[n..] != b"\r\n" {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bulk not followed by CRLF"));
    }
    buf.truncate(n);
    Ok(buf)
}

/// A command as a RESP multibulk.
pub fn encode<I, A>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    let args: Vec<A> = args.into_iter().collect();
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in &args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A connection speaking RESP, with raw access for protocol tests. Every read has a timeout
/// ([`IO_TIMEOUT`]) so a missing reply fails the test rather than hanging it.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        let writer = stream.try_clone().expect("clone stream");
        Conn { reader: BufReader::with_capacity(64 * 1024, stream), writer }
    }

    /// Sends one command without reading its reply (pipelining).
    pub fn send<I, A>(&mut self, args: I)
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.writer.write_all(&encode(args)).expect("send command");
    }

    /// Reads one reply; panics on a closed connection or a malformed reply.
    pub fn read(&mut self) -> Reply {
        read_reply(&mut self.reader).unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    pub fn try_read(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.reader)
    }

    /// Sends a command and reads its reply.
    pub fn cmd<I, A>(&mut self, args: I) -> Reply
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.send(args);
        self.read()
    }

    /// Runs a command that must reply +OK.
    #[track_caller]
    pub fn ok<I, A>(&mut self, args: I)
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let (args, shown) = shown(args);
        let r = self.cmd(&args);
        assert_eq!(r, Reply::ok(), "{shown}");
    }

    /// Runs a command that must reply with an integer.
    #[track_caller]
    pub fn int<I, A>(&mut self, args: I) -> i64
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let (args, shown) = shown(args);
        match self.cmd(&args) {
            Reply::Int(i) => i,
            other => panic!("{shown}: expected an integer, got {other:?}"),
        }
    }

    /// Runs a command that must reply with a bulk string or nil; returns it as text.
    #[track_caller]
    pub fn get_str<I, A>(&mut self, args: I) -> Option<String>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let (args, shown) = shown(args);
        match self.cmd(&args) {
            Reply::Bulk(b) => b.map(|b| String::from_utf8(b).expect("UTF-8 value")),
            Reply::Null => None,
            other => panic!("{shown}: expected a bulk string, got {other:?}"),
        }
    }

    /// Runs a command that must fail; returns the error text (without the '-').
    #[track_caller]
    pub fn err<I, A>(&mut self, args: I) -> String
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let (args, shown) = shown(args);
        match self.cmd(&args) {
            Reply::Error(e) | Reply::BlobError(e) => e,
            other => panic!("{shown}: expected an error, got {other:?}"),
        }
    }

    /// `INFO <section>` as a field -> value map.
    pub fn info(&mut self, section: &str) -> HashMap<String, String> {
        let text = self.cmd(["INFO", section]).as_str();
        parse_info(&text)
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// A second handle on the socket for writing from another thread.
    pub fn writer_clone(&self) -> TcpStream {
        self.writer.try_clone().expect("clone stream")
    }

    /// Reads one raw CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self) -> io::Result<String> {
        read_line(&mut self.reader).map(|l| String::from_utf8_lossy(&l).into_owned())
    }

    /// Reads everything until the server closes the connection or `timeout` passes. Returns
    /// the bytes read and whether the connection was closed (EOF or reset).
    pub fn read_until_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let mut out = self.reader.buffer().to_vec();
        let n = out.len();
        self.reader.consume(n);
        let stream = self.reader.get_mut();
        let mut buf = vec![0u8; 64 * 1024];
        let closed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("set timeout");
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        (out, closed)
    }

    /// Asserts the server closes the connection (within a generous bound); returns what it
    /// sent before closing.
    #[track_caller]
    pub fn expect_closed(&mut self) -> Vec<u8> {
        let (bytes, closed) = self.read_until_close(IO_TIMEOUT);
        assert!(closed, "the server did not close the connection; it sent {:?}", String::from_utf8_lossy(&bytes));
        bytes
    }

    /// True if nothing arrives within `wait` and the connection stays open.
    pub fn is_silent_for(&mut self, wait: Duration) -> bool {
        let (bytes, closed) = self.read_until_close(wait);
        bytes.is_empty() && !closed
    }
}

/// Collects the arguments and a printable form of the command for assertion messages.
fn shown<I, A>(args: I) -> (Vec<Vec<u8>>, String)
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.as_ref().to_vec()).collect();
    let shown = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ");
    (args, shown)
}

/// `field:value` lines of an INFO reply, sections and blank lines skipped.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// A `k=v,k=v` INFO value (keyspace, commandstats, errorstats) as a map.
pub fn parse_kv(value: &str) -> HashMap<String, String> {
    value.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------------------------------------
// Key placement
// ---------------------------------------------------------------------------------------------

/// CRC16-XMODEM, the checksum Redis Cluster hashes keys with.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// Redis Cluster's key slot: CRC16 of the key, or of a non-empty `{hash tag}`, mod 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let mut hashed = key;
    if let Some(open) = key.iter().position(|&c| c == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&c| c == b'}') {
            if len > 0 {
                hashed = &key[open + 1..open + 1 + len];
            }
        }
    }
    crc16(hashed) % 16384
}

/// The shard that owns `key` in a server with `shards` shards: slot mod shards (DESIGN.md).
pub fn shard_of(key: &str, shards: usize) -> usize {
    key_slot(key.as_bytes()) as usize % shards
}

/// The first key `{prefix}{i}` (i = 0, 1, ...) owned by `shard` of `shards`.
pub fn key_on_shard(prefix: &str, shard: usize, shards: usize) -> String {
    (0..).map(|i| format!("{prefix}{i}")).find(|k| shard_of(k, shards) == shard).expect("some key lands on every shard")
}

/// One key per shard, `keys[s]` on shard `s`: commands over them span every shard.
pub fn keys_on_every_shard(prefix: &str, shards: usize) -> Vec<String> {
    (0..shards).map(|s| key_on_shard(prefix, s, shards)).collect()
}

#[test]
fn harness_key_slot_matches_redis_cluster() {
    // The reference values of the Redis Cluster specification.
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(key_slot(b"foo"), 12182);
    assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
    assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % 16384);
    let keys = keys_on_every_shard("k", 4);
    assert_eq!((0..4).map(|s| shard_of(&keys[s], 4)).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
}

#[test]
fn harness_reads_resp3_replies() {
    let mut input: &[u8] = b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n~1\r\n,1.5\r\n_\r\n#t\r\n=8\r\ntxt:abcd\r\n*-1\r\n$-1\r\n,inf\r\n";
    let m = read_reply(&mut input).unwrap();
    assert_eq!(m.field("a"), Some(Reply::Int(1)));
    assert_eq!(m.field("b"), Some(Reply::Set(vec![Reply::Double(1.5)])));
    assert_eq!(read_reply(&mut input).unwrap(), Reply::Null);
    assert_eq!(read_reply(&mut input).unwrap(), Reply::Bool(true));
    assert_eq!(read_reply(&mut input).unwrap(), Reply::Verbatim("txt".into(), b"abcd".to_vec()));
    assert!(read_reply(&mut input).unwrap().is_nil());
    assert!(read_reply(&mut input).unwrap().is_nil());
    assert_eq!(read_reply(&mut input).unwrap(), Reply::Double(f64::INFINITY));
}

/// The bytes of an AOF segment up to its last record. A server stopped by kill (as these
/// tests stop theirs) leaves zeros past it: space reserved ahead of its writes, which the
/// next start trims.
pub fn segment_records(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read segment");
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes.truncate(end);
    bytes
}

/// Writes `bytes` right after a segment's last record, over the zeros reserved past it (as a
/// server cut off in the middle of a write leaves them). Returns the offset written at.
pub fn write_after_records(path: &std::path::Path, bytes: &[u8]) -> u64 {
    use std::os::unix::fs::FileExt;
    let at = segment_records(path).len() as u64;
    let f = std::fs::OpenOptions::new().write(true).open(path).expect("open segment");
    f.write_all_at(bytes, at).expect("write segment");
    at
}
