// Test payload for airlock's sandbox limits (issue 19, "killed for memory"): commits
// memory (filled buffers, outside V8's heap) in 32 MiB steps until the container's
// memory limit makes the kernel's OOM killer SIGKILL it. The run must never be benign.
'use strict';
const kept = [];
for (let i = 0; i < 1024; i++) {
  kept.push(Buffer.alloc(32 << 20, i & 0xff));
}
console.log('allocated', kept.length * 32, 'MiB without being stopped');
