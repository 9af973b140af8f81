//! The process boundary: every external program `up` and `down` run (docker, kind, kubectl, helm)
//! goes through [`CommandRunner`], so tests can swap the real [`TokioRunner`] for a
//! [`ScriptedRunner`] that records command lines and answers from a script.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

/// One external command: a program and its arguments (no shell involved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up on `PATH`.
    pub program: String,
    /// Its arguments, passed as they are.
    pub args: Vec<String>,
}

impl Cmd {
    /// A command with no arguments yet.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// The command line as a user would type it in a POSIX shell (arguments quoted where needed).
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^{}".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmdOutput {
    /// The exit code; `None` if a signal ended the process.
    pub code: Option<i32>,
    /// Standard output, decoded lossily as UTF-8.
    pub stdout: String,
    /// Standard error, decoded lossily as UTF-8.
    pub stderr: String,
}

impl CmdOutput {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A command that could not be run to completion (as opposed to one that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program is not on `PATH`.
    #[error("`{program}` was not found on PATH")]
    NotFound {
        /// The program that was looked up.
        program: String,
    },
    /// The process could not be started or waited for.
    #[error("could not run `{command}`: {source}")]
    Io {
        /// The command line.
        command: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The command ran longer than the runner allows; it was killed.
    #[error("`{command}` did not finish within {}s and was killed", after.as_secs())]
    TimedOut {
        /// The command line.
        command: String,
        /// The limit it hit.
        after: Duration,
    },
}

/// Runs external commands. Implemented by [`TokioRunner`] for real and [`ScriptedRunner`] in tests.
pub trait CommandRunner {
    /// Runs `cmd` to completion with standard input closed, capturing its output.
    ///
    /// A non-zero exit is not an error here: it comes back as a [`CmdOutput`] for the caller
    /// to judge.
    fn run(&self, cmd: &Cmd) -> impl Future<Output = Result<CmdOutput, CmdError>> + Send;
}

/// Runs commands as child processes with `tokio::process`, each bounded by a time limit.
#[derive(Debug, Clone)]
pub struct TokioRunner {
    timeout: Duration,
}

impl TokioRunner {
    /// The default limit for one command: long enough for `kind create cluster` or a Helm
    /// install on a slow CI runner, short enough that a hung process does not eat the job.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

    /// A runner that kills any command still running after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        TokioRunner { timeout }
    }
}

impl Default for TokioRunner {
    fn default() -> Self {
        TokioRunner::new(Self::DEFAULT_TIMEOUT)
    }
}

impl CommandRunner for TokioRunner {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        tracing::debug!(command = %cmd, "running");
        let mut child = tokio::process::Command::new(&cmd.program);
        child
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(self.timeout, child.output()).await {
            Err(_) => {
                return Err(CmdError::TimedOut {
                    command: cmd.to_string(),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CmdError::NotFound {
                    program: cmd.program.clone(),
                });
            }
            Ok(Err(source)) => {
                return Err(CmdError::Io {
                    command: cmd.to_string(),
                    source,
                });
            }
            Ok(Ok(output)) => output,
        };
        let out = CmdOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        tracing::debug!(command = %cmd, code = ?out.code, "finished");
        Ok(out)
    }
}

/// A scripted answer of [`ScriptedRunner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Exit 0 with this standard output.
    Ok(String),
    /// Exit with this code and standard error.
    Fail {
        /// The exit code.
        code: i32,
        /// What the command printed on standard error.
        stderr: String,
    },
    /// The program is not installed.
    NotFound,
}

impl Reply {
    /// Exit 0 with `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Reply::Ok(stdout.into())
    }

    /// Exit 1 with `stderr`.
    pub fn fail(stderr: impl Into<String>) -> Self {
        Reply::Fail {
            code: 1,
            stderr: stderr.into(),
        }
    }
}

/// A fake [`CommandRunner`] for tests: it records every command line and answers from a script.
///
/// Each rule is a command-line prefix (as [`Cmd`]'s `Display` prints it) with its replies. The
/// longest matching prefix wins, and among equal prefixes the rule added last, so a test can
/// start from a healthy script and override one command. A rule's replies are used in order and
/// the last one repeats, so polling can be scripted as "fail, fail, succeed". A command no rule
/// matches succeeds with empty output.
#[derive(Debug, Default)]
pub struct ScriptedRunner {
    rules: Mutex<Vec<(String, VecDeque<Reply>)>>,
    calls: Mutex<Vec<String>>,
}

impl ScriptedRunner {
    /// A runner on which every command succeeds silently.
    pub fn new() -> Self {
        ScriptedRunner::default()
    }

    /// Answers every command starting with `prefix` with `reply`.
    pub fn on(self, prefix: impl Into<String>, reply: Reply) -> Self {
        self.on_seq(prefix, [reply])
    }

    /// Answers commands starting with `prefix` with `replies` in order, repeating the last one.
    pub fn on_seq(
        self,
        prefix: impl Into<String>,
        replies: impl IntoIterator<Item = Reply>,
    ) -> Self {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((prefix.into(), replies.into_iter().collect()));
        self
    }

    /// Every command line run so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn reply_for(&self, line: &str) -> Reply {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let best = rules
            .iter_mut()
            .enumerate()
            .filter(|(_, (prefix, _))| line.starts_with(prefix.as_str()))
            .max_by_key(|(i, (prefix, _))| (prefix.len(), *i))
            .map(|(_, rule)| rule);
        match best {
            None => Reply::Ok(String::new()),
            Some((_, queue)) if queue.len() > 1 => queue.pop_front().unwrap_or(Reply::NotFound),
            Some((_, queue)) => queue.front().cloned().unwrap_or(Reply::NotFound),
        }
    }
}

impl CommandRunner for ScriptedRunner {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        let line = cmd.to_string();
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.clone());
        match self.reply_for(&line) {
            Reply::Ok(stdout) => Ok(CmdOutput {
                code: Some(0),
                stdout,
                stderr: String::new(),
            }),
            Reply::Fail { code, stderr } => Ok(CmdOutput {
                code: Some(code),
                stdout: String::new(),
                stderr,
            }),
            Reply::NotFound => Err(CmdError::NotFound {
                program: cmd.program.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_a_shell_would_split() {
        let cmd = Cmd::new("docker")
            .args(["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
            .arg("a b")
            .arg("it's")
            .arg("");
        assert_eq!(
            cmd.to_string(),
            r#"docker version --format {{.Server.Os}}/{{.Server.Arch}} 'a b' 'it'\''s' ''"#
        );
    }

    #[tokio::test]
    async fn scripted_runner_uses_longest_prefix_and_repeats_last_reply() {
        let runner = ScriptedRunner::new()
            .on("kind", Reply::ok("generic"))
            .on("kind get clusters", Reply::ok("overridden"))
            .on_seq(
                "kind get clusters",
                [Reply::fail("boom"), Reply::ok("netpol\n")],
            );
        let get = Cmd::new("kind").args(["get", "clusters"]);
        let first = runner.run(&get).await.unwrap();
        assert_eq!(first.code, Some(1));
        assert_eq!(first.stderr, "boom");
        for _ in 0..2 {
            assert_eq!(runner.run(&get).await.unwrap().stdout, "netpol\n");
        }
        let version = runner.run(&Cmd::new("kind").arg("version")).await.unwrap();
        assert_eq!(version.stdout, "generic");
        let other = runner.run(&Cmd::new("kubectl")).await.unwrap();
        assert!(other.success() && other.stdout.is_empty());
        assert_eq!(runner.calls().len(), 5);
    }

    #[tokio::test]
    async fn tokio_runner_captures_output_and_reports_missing_programs() {
        let runner = TokioRunner::default();
        let out = runner
            .run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .await
            .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        let missing = runner
            .run(&Cmd::new("netpol-harness-no-such-program"))
            .await
            .unwrap_err();
        assert!(
            matches!(missing, CmdError::NotFound { ref program } if program == "netpol-harness-no-such-program")
        );
    }

    #[tokio::test]
    async fn tokio_runner_kills_commands_that_overrun() {
        let runner = TokioRunner::new(Duration::from_millis(200));
        let err = runner.run(&Cmd::new("sleep").arg("5")).await.unwrap_err();
        assert!(matches!(err, CmdError::TimedOut { .. }), "{err:?}");
    }
}
