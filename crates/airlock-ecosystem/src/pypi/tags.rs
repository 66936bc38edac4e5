//! Wheel-tag ranking: which wheel file `pip install` would pick on the sandbox's
//! interpreter, so the host fetches the same bytes pip would install.

// ---- wheel tags ------------------------------------------------------------------

/// Rank of a wheel file name for the sandbox's interpreter (`py`: CPython 3.13 on glibc
/// 2.41, x86_64, by default), higher is better, `None` when pip would not install it
/// there. Follows the order of pip's supported tags: cpython-specific ABI, then abi3,
/// then none; a platform wheel before a pure one.
pub fn wheel_rank(file_name: &str, py: &crate::runtime::PythonRuntime) -> Option<u32> {
    let ((_, minor), glibc) = (py.minor(), py.glibc_minor());
    let cp = format!("cp3{minor}");
    let py3x = format!("py3{minor}");
    let stem = file_name.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (py, abi, plat) = match parts.len() {
        5 | 6 => (
            parts[parts.len() - 3],
            parts[parts.len() - 2],
            parts[parts.len() - 1],
        ),
        _ => return None,
    };
    let best = |tags: &str, f: &dyn Fn(&str) -> Option<u32>| tags.split('.').filter_map(f).max();
    let plat_rank = best(plat, &|p| {
        if p == "any" {
            return Some(0);
        }
        if p == "linux_x86_64" || p == "manylinux1_x86_64" || p == "manylinux2010_x86_64" {
            return Some(1);
        }
        if p == "manylinux2014_x86_64" {
            return Some(2);
        }
        let rest = p.strip_prefix("manylinux_2_")?.strip_suffix("_x86_64")?;
        let minor: u32 = rest.parse().ok()?;
        (minor <= glibc).then_some(2)
    })?;
    let abi_rank = best(abi, &|a| match a {
        a if a == cp => Some(3),
        "abi3" => Some(2),
        "none" => Some(1),
        _ => None,
    })?;
    let py_rank = best(py, &|p| {
        if p == cp {
            return Some(3);
        }
        if p == "py3" || p == py3x {
            return Some(2);
        }
        if let Some(m) = p.strip_prefix("cp3") {
            let m: u32 = m.parse().ok()?;
            // cp3x with abi3 works on later CPythons.
            return (m <= minor && abi.split('.').any(|a| a == "abi3")).then_some(2);
        }
        let m = p.strip_prefix("py3")?;
        let m: u32 = m.parse().ok()?;
        (m <= minor).then_some(1)
    })?;
    // abi cp3x only pairs with cp3x; `none` pairs with anything.
    if abi_rank == 3 && py_rank != 3 {
        return None;
    }
    Some(abi_rank * 100 + plat_rank * 10 + py_rank)
}
