//! Which probe tool a container has: known from its image's name, declared by the pod, or asked
//! with one exec of [`detect_tool_command`].

use super::ProbeTool;

/// The command asking a container which probe tool it has; it prints `agnhost`, `busybox` or
/// `none`. A container without a shell fails to run it, which also means `none`.
pub fn detect_tool_command() -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".to_string(),
        "if command -v agnhost >/dev/null 2>&1 || [ -x /agnhost ]; then echo agnhost; \
         elif command -v nc >/dev/null 2>&1 && command -v wget >/dev/null 2>&1; then echo busybox; \
         else echo none; fi"
            .to_string(),
    ]
}

/// The tool named by [`detect_tool_command`]'s output or a pod's
/// [`crate::cluster::PROBE_TOOL_ANNOTATION`]; `None` for `none` or anything else.
pub fn parse_tool(word: &str) -> Option<ProbeTool> {
    match word.trim() {
        "agnhost" => Some(ProbeTool::Agnhost),
        "busybox" => Some(ProbeTool::Busybox),
        _ => None,
    }
}

/// The tool an image is known to carry, from its name (saves the detection exec).
pub fn tool_of_image(image: &str) -> Option<ProbeTool> {
    let name = image.rsplit('/').next().unwrap_or(image);
    if name.starts_with("agnhost") {
        Some(ProbeTool::Agnhost)
    } else if name.starts_with("busybox") {
        Some(ProbeTool::Busybox)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_from_image_names_and_words() {
        assert_eq!(
            tool_of_image("registry.k8s.io/e2e-test-images/agnhost:2.66.1"),
            Some(ProbeTool::Agnhost)
        );
        assert_eq!(tool_of_image("busybox:1.36"), Some(ProbeTool::Busybox));
        assert_eq!(tool_of_image("hashicorp/http-echo:1.0"), None);
        assert_eq!(parse_tool("busybox\n"), Some(ProbeTool::Busybox));
        assert_eq!(parse_tool("none"), None);
    }
}
