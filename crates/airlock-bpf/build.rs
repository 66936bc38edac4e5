//! Compiles the kernel side (src/bpf/recorder.bpf.c) with clang into a BPF object and
//! generates its Rust skeleton in OUT_DIR (libbpf-cargo). CO-RE: the object carries
//! relocations against the minimal src/bpf/vmlinux.h, resolved by libbpf against the
//! running kernel's BTF at load time, so the build needs clang but no kernel headers and
//! no /sys/kernel/btf (sandbox-images/setup installs clang with the engine).

use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/recorder.bpf.c";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("recorder.skel.rs");
    if let Err(e) = SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-Isrc/bpf", "-Wall", "-Wno-unused-function"])
        .build_and_generate(&out)
    {
        panic!(
            "building the BPF recorder ({SRC}) failed: {e:#}\n\
             clang and llvm are needed: run sandbox-images/setup engine (Debian: apt-get install clang llvm libelf-dev zlib1g-dev pkg-config)"
        );
    }
    for f in [
        "src/bpf/recorder.bpf.c",
        "src/bpf/recorder.bpf.h",
        "src/bpf/vmlinux.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
}
