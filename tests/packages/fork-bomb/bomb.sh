#!/bin/sh
# A classic fork bomb, contained by the sandbox's pids limit and phase deadline.
bomb() { bomb | bomb & }
bomb
sleep 600
