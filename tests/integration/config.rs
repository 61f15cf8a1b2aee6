//! Startup configuration: a redis.conf-style file, command-line flags overriding it, and the
//! fatal errors of a bad configuration. Mirrors Redis's config loader behaviour (config.c).

use crate::harness::{free_port, run_to_exit, Reply, Server, TempDir};

#[test]
fn starting_with_a_config_file() {
    let s = Server::launch(|port, dir| {
        let path = dir.join("shardis.conf");
        let text = format!(
            "# shardis test configuration\n\
             port {port}\n\
             \n\
             bind 127.0.0.1\n\
             shards 2\n\
             save \"\"\n\
             maxmemory 10mb\n\
             maxmemory-policy allkeys-lru\n\
             databases 4\n"
        );
        std::fs::write(&path, text).expect("write config file");
        vec![path.to_string_lossy().into_owned()]
    });
    let mut c = s.conn();
    assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "10485760"]));
    assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory-policy"]), Reply::bulks(&["maxmemory-policy", "allkeys-lru"]));
    assert_eq!(c.cmd(["CONFIG", "GET", "databases"]), Reply::bulks(&["databases", "4"]));
    assert_eq!(c.err(["SELECT", "4"]), "ERR DB index is out of range");
    assert_eq!(s.shards(), 2);
    let info = c.info("server");
    let config_file = info.get("config_file").expect("config_file field");
    assert!(config_file.ends_with("shardis.conf"), "INFO server config_file:{config_file}");
}

#[test]
fn command_line_overrides_the_config_file() {
    let file_port = free_port();
    let s = Server::launch(|port, dir| {
        let path = dir.join("shardis.conf");
        std::fs::write(&path, format!("port {file_port}\nbind 127.0.0.1\nsave \"\"\nmaxmemory 1mb\nshards 1\n")).expect("write config file");
        vec![path.to_string_lossy().into_owned(), "--port".into(), port.to_string(), "--maxmemory".into(), "2mb".into()]
    });
    let mut c = s.conn();
    assert_eq!(c.cmd(["CONFIG", "GET", "port"]), Reply::bulks(&["port", &s.port.to_string()]));
    assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "2097152"]));
    assert!(std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err(), "the file's port {file_port} must not be listened on");
}

#[test]
fn unknown_directive_in_config_file_is_fatal() {
    let dir = TempDir::new("badconf");
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "# comment\nport 7777\nnosuchdirective yes\nmaxmemory 1mb\n").expect("write config file");
    let (status, out) = run_to_exit(&[path.to_str().unwrap()], dir.path());
    assert!(!status.success(), "the server must refuse to start: {status}\n{out}");
    assert!(out.contains("FATAL CONFIG FILE ERROR"), "{out}");
    assert!(out.contains(&path.to_string_lossy().into_owned()), "the message names the file:\n{out}");
    assert!(out.contains("at line 3"), "the message names the line number:\n{out}");
    assert!(out.contains(">>> 'nosuchdirective yes'"), "the message quotes the line:\n{out}");
    assert!(out.contains("Bad directive or wrong number of arguments"), "{out}");
}

#[test]
fn bad_values_are_fatal() {
    let dir = TempDir::new("badval");
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "maxmemory lots\n").expect("write config file");
    let (status, out) = run_to_exit(&[path.to_str().unwrap()], dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("at line 1") && out.contains("argument must be a memory value"), "{out}");
    // An unknown flag on the command line.
    let (status, out) = run_to_exit(&["--nosuchflag", "1"], dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("Bad directive or wrong number of arguments"), "{out}");
    // A config file that does not exist.
    let missing = dir.path().join("missing.conf");
    let (status, out) = run_to_exit(&[missing.to_str().unwrap()], dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("missing.conf"), "{out}");
}

#[test]
fn busy_port_is_fatal() {
    let s = Server::start(&["--shards", "1"]);
    let dir = TempDir::new("busy");
    let port = s.port.to_string();
    let (status, out) = run_to_exit(&["--port", &port, "--bind", "127.0.0.1", "--save", ""], dir.path());
    assert!(!status.success(), "a second server on a busy port must fail: {out}");
    assert!(out.contains("Address already in use"), "{out}");
    assert_eq!(s.conn().cmd(["PING"]), Reply::Simple("PONG".into()), "the first server is unaffected");
}

#[test]
fn config_rewrite_without_a_config_file() {
    let s = Server::start(&["--shards", "1"]);
    assert_eq!(s.conn().err(["CONFIG", "REWRITE"]), "ERR The server is running without a config file");
}

#[test]
fn config_rewrite_persists_changes_across_a_restart() {
    let conf_dir = TempDir::new("rewrite");
    let path = conf_dir.path().join("shardis.conf");
    std::fs::write(&path, "# keep this comment\nbind 127.0.0.1\nsave \"\"\nshards 2\nmaxmemory 1mb\n").expect("write config file");
    let argv = |port: u16, _: &std::path::Path| vec![path.to_string_lossy().into_owned(), "--port".to_string(), port.to_string()];
    {
        let s = Server::launch(argv);
        let mut c = s.conn();
        c.ok(["CONFIG", "SET", "maxmemory", "5mb", "maxmemory-policy", "allkeys-lfu", "slowlog-max-len", "77"]);
        c.ok(["CONFIG", "REWRITE"]);
    }
    let text = std::fs::read_to_string(&path).expect("read rewritten config");
    assert!(text.contains("# keep this comment"), "comments survive a rewrite:\n{text}");
    assert!(text.lines().any(|l| l == "maxmemory 5mb"), "the changed line is rewritten in place:\n{text}");
    assert!(text.lines().any(|l| l == "maxmemory-policy allkeys-lfu"), "{text}");
    assert!(!text.lines().any(|l| l == "maxmemory 1mb"), "the old value is gone:\n{text}");
    // A restart reads what was rewritten.
    let s = Server::launch(argv);
    let mut c = s.conn();
    assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "5242880"]));
    assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory-policy"]), Reply::bulks(&["maxmemory-policy", "allkeys-lfu"]));
    assert_eq!(c.cmd(["CONFIG", "GET", "slowlog-max-len"]), Reply::bulks(&["slowlog-max-len", "77"]));
}
