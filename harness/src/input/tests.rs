use std::os::unix::fs::symlink;

use super::*;

fn limits(max_bytes: u64, max_line: usize) -> Limits {
    Limits {
        what: "a test file",
        max_bytes,
        max_line,
    }
}

#[test]
fn a_symlink_out_of_the_root_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("scenario");
    std::fs::create_dir(&root).unwrap();
    let secret = dir.path().join("secret.yaml");
    std::fs::write(&secret, "password: hunter2\n").unwrap();
    symlink("../secret.yaml", root.join("m.yaml")).unwrap();
    let err = read_text(&root.join("m.yaml"), Some(&root), MANIFEST).unwrap_err();
    assert!(matches!(err, InputError::Outside { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // The same file is readable when no root confines it, and a symlink inside the root is fine.
    assert!(read_text(&root.join("m.yaml"), None, MANIFEST).is_ok());
    std::fs::write(root.join("real.yaml"), "a: 1\n").unwrap();
    symlink("real.yaml", root.join("alias.yaml")).unwrap();
    assert_eq!(
        read_text(&root.join("alias.yaml"), Some(&root), MANIFEST).unwrap(),
        "a: 1\n"
    );
    // `..` that comes back inside is fine; `..` that stays out is not.
    std::fs::create_dir(root.join("sub")).unwrap();
    assert!(read_text(&root.join("sub/../real.yaml"), Some(&root), MANIFEST).is_ok());
    assert!(matches!(
        read_text(&root.join("../secret.yaml"), Some(&root), MANIFEST),
        Err(InputError::Outside { .. })
    ));
}

#[test]
fn special_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    // Would block forever if opened for reading with no writer.
    let err = read_text(&fifo, None, MANIFEST).unwrap_err();
    assert_eq!(
        err,
        InputError::NotRegular {
            path: fifo.clone(),
            kind: "FIFO"
        }
    );
    let err = read_text(Path::new("/dev/zero"), None, MANIFEST).unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");
    symlink("/dev/zero", dir.path().join("zero.yaml")).unwrap();
    let err = read_text(&dir.path().join("zero.yaml"), None, MANIFEST).unwrap_err();
    assert!(
        err.to_string().contains("zero.yaml: is a character device"),
        "{err}"
    );
    let err = read_text(dir.path(), None, MANIFEST).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a directory, not a regular file"),
        "{err}"
    );
    let sock = dir.path().join("s.yaml");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert!(matches!(
        read_text(&sock, None, MANIFEST),
        Err(InputError::NotRegular { kind: "socket", .. })
    ));
}

#[test]
fn sizes_and_lines_are_capped_and_the_limit_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, "a: 1\n".repeat(100)).unwrap();
    let err = read_text(&file, None, limits(100, 1000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: larger than the 100-byte limit for a test file",
            file.display()
        )
    );
    std::fs::write(&file, format!("a: 1\nb: {}\n", "x".repeat(50))).unwrap();
    let err = read_text(&file, None, limits(1000, 20)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: line longer than the 20-byte limit for a test file",
            file.display()
        )
    );
    assert!(read_text(&file, None, limits(1000, 60)).is_ok());
}

#[test]
fn text_is_utf8_and_a_byte_order_mark_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, b"\xEF\xBB\xBF{}\n").unwrap();
    assert_eq!(read_text(&file, None, RESULTS).unwrap(), "{}\n");
    std::fs::write(&file, b"ok\n\xFF").unwrap();
    assert_eq!(
        read_text(&file, None, RESULTS).unwrap_err(),
        InputError::NotText {
            path: file,
            offset: 3
        }
    );
}

#[test]
fn stdin_lines_are_bounded() {
    let mut short = std::io::Cursor::new(b"yes\r\nno\n".to_vec());
    assert_eq!(
        read_line(&mut short, STDIN_LINE).unwrap().as_deref(),
        Some("yes")
    );
    assert_eq!(
        read_line(&mut short, STDIN_LINE).unwrap().as_deref(),
        Some("no")
    );
    assert_eq!(read_line(&mut short, STDIN_LINE).unwrap(), None);
    // An endless line without a newline (`< /dev/zero`) stops at the limit.
    let mut zeros = std::io::Read::take(std::io::repeat(0), 1 << 30);
    let mut zeros = std::io::BufReader::new(&mut zeros);
    let err = read_line(&mut zeros, STDIN_LINE).unwrap_err();
    assert!(
        err.to_string()
            .contains("4096-byte limit for an input line"),
        "{err}"
    );
}

#[test]
fn walks_end_on_symlink_loops_and_stay_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.yaml"), "").unwrap();
    std::fs::write(root.join("sub/b.yaml"), "").unwrap();
    std::fs::write(root.join("sub/notes.txt"), "").unwrap();
    let yaml = |p: &Path| p.extension().is_some_and(|e| e == "yaml");
    assert_eq!(
        walk(&root, Some(&root), yaml).unwrap(),
        [root.join("a.yaml"), root.join("sub/b.yaml")]
    );
    symlink(".", root.join("sub/a")).unwrap();
    symlink("..", root.join("sub/b")).unwrap();
    let err = walk(&root, Some(&root), yaml).unwrap_err();
    assert!(err.to_string().contains("symlink loop at"), "{err}");
    std::fs::remove_file(root.join("sub/a")).unwrap();
    std::fs::remove_file(root.join("sub/b")).unwrap();
    symlink(dir.path(), root.join("out")).unwrap();
    assert!(matches!(
        walk(&root, Some(&root), yaml),
        Err(InputError::Outside { .. })
    ));
}
