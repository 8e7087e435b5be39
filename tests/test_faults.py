#!/usr/bin/env python3
"""tests/test_faults.py: fault injection for the writers.

build/tests/fault_trainer (tests/fault_trainer.c) trains a small MLP with
Adam, checkpointing its whole training state (common/trainstate.h) every
few steps and writing its data (a token file, a TSV of the loss) atomically.
This test

  1. runs it once uninterrupted: the reference;
  2. kills it with SIGKILL (one time in four SIGINT, one in four SIGTERM)
     at random moments (two kills in three during a write: when a temporary
     file appears, plus 0 to 4 ms), FAULT_TRIALS times (default 10; a trial
     kills it up to three times before letting it finish), and
     after every kill checks that each file under a final name is complete
     (the token file equals the reference's, the state loads, the TSV
     parses), that the checkpoint never went back to an earlier step, and
     that whatever else is there is a writer's temporary file; then lets it
     resume and checks that the final state is the reference's, byte for
     byte, and the final loss the same;
  3. fills its disk (a small tmpfs, in a mount namespace of its own) at the
     first write and at the second checkpoint, and makes its folder
     read-only, fresh and in the middle of a run: each time one line naming
     the file and the reason, exit status 1, no temporary file left, the
     last checkpoint intact and resumable to the reference's bytes;
  4. feeds it a truncated checkpoint and another run's checkpoint: one line,
     exit status 1, the file untouched.

The closing line is "N passed, N failed"; a summary line before it counts
trials, kills, kills that landed during a write, and files lost.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
TRAINER = os.path.abspath("build/tests/fault_trainer")
WORK = os.path.abspath("build/test-faults")
STEPS, EVERY = 30, 2
TRIALS = int(os.environ.get("FAULT_TRIALS", "10"))
SEED = int(os.environ.get("FAULT_SEED", str(int(time.time()))))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks  # noqa: E402

check = Checks("FAIL ", ok_prefix="ok   ")


def train_cmd(d, *extra):
    return [TRAINER, "train", "--data", os.path.join(WORK, "data.txt"), "--dir", d,
            "--steps", str(STEPS), "--every", str(EVERY), *extra]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_line(err):
    return err.count("\n") == 1 and err.endswith("\n") and err.startswith("fault_trainer: ")


FINAL = ("tokens.bin", "state.safetensors", "loss.tsv")
TMP = re.compile(r"^(tokens\.bin|state\.safetensors|loss\.tsv)\.tmp-[A-Za-z0-9]{6}$")


def state_step(d):
    """The step of d's checkpoint (via the trainer's own loader), or None with the reason."""
    r = run([TRAINER, "check", "--dir", d])
    m = re.match(r"step (\d+) data_pos (\d+)$", r.stdout.strip())
    return (int(m.group(1)), None) if r.returncode == 0 and m else (None, r.stderr.strip())


def inspect(d, ref_tokens, last_step):
    """Check what a killed run left in d.  Returns (problems, temporaries, step)."""
    problems, tmps, step = [], 0, last_step
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    for n in names:
        if TMP.match(n):
            tmps += 1
        elif n not in FINAL:
            problems.append("unexpected file " + n)
    if "tokens.bin" in names and read(os.path.join(d, "tokens.bin")) != ref_tokens:
        problems.append("tokens.bin is not the complete token file")
    if "loss.tsv" in names:
        lines = read(os.path.join(d, "loss.tsv")).decode().splitlines()
        rows = [l for l in lines if not l.startswith("#")]
        if len(rows) != 2 or rows[0] != "step\tloss" or len(rows[1].split("\t")) != 2:
            problems.append("loss.tsv is incomplete: %r" % rows)
    if "state.safetensors" in names:
        step, why = state_step(d)
        if step is None:
            problems.append("state.safetensors does not load: " + why)
        elif step % EVERY and step != STEPS:
            problems.append("state.safetensors is at step %d, not a checkpoint step" % step)
        elif last_step is not None and step < last_step:
            problems.append("the checkpoint went back from step %d to %d" % (last_step, step))
    elif last_step is not None:
        problems.append("the checkpoint of step %d is gone" % last_step)
    return problems, tmps, step


def main():
    if not os.access(TRAINER, os.X_OK):
        check(False, "%s is built (make test-c)" % TRAINER)
        return
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    shutil.copy("chapters/01-markov/markov.nw", os.path.join(WORK, "data.txt"))
    rng = random.Random(SEED)
    print("seed %d (FAULT_SEED=%d reproduces the kill times)" % (SEED, SEED))

    # 1. The reference run.
    ref = os.path.join(WORK, "ref")
    t0 = time.monotonic()
    r = run(train_cmd(ref))
    t_ref = time.monotonic() - t0
    if not check(r.returncode == 0 and r.stdout.startswith("done: step %d loss" % STEPS),
                 "the uninterrupted run finishes (%.2fs): %s%s" % (t_ref, r.stdout.strip(), r.stderr.strip())):
        return
    ref_done, ref_state = r.stdout, read(os.path.join(ref, "state.safetensors"))
    ref_tokens = read(os.path.join(ref, "tokens.bin"))

    # 2. SIGKILL at random moments.
    kills = in_write = lost = identical = 0
    bad_trials = []
    for trial in range(TRIALS):
        d = os.path.join(WORK, "trial")
        shutil.rmtree(d, ignore_errors=True)
        last, trouble = None, []
        for _ in range(rng.randint(1, 3)):
            p = subprocess.Popen(train_cmd(d), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # a third of the kills at a random moment; the rest at a random moment of a write: after a
            # random wait, as soon as a writer's temporary file appears, plus 0 to 4 ms
            time.sleep(rng.uniform(0, t_ref * 1.1))
            if rng.random() < 2 / 3:
                deadline = time.monotonic() + t_ref
                while p.poll() is None and time.monotonic() < deadline:
                    if any(TMP.match(n) for n in (os.listdir(d) if os.path.isdir(d) else [])):
                        time.sleep(rng.uniform(0, 0.004))
                        break
            if p.poll() is None:  # mostly SIGKILL; Ctrl-C (SIGINT) and SIGTERM must be as harmless
                p.send_signal(rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGTERM]))
                kills += 1
            p.communicate()
            problems, tmps, last = inspect(d, ref_tokens, last)
            in_write += tmps > 0
            lost += len(problems)
            trouble += problems
        r = run(train_cmd(d))
        same = r.returncode == 0 and r.stdout == ref_done and read(os.path.join(d, "state.safetensors")) == ref_state
        identical += same
        if not same:
            trouble.append("the resumed run differs: %s%s" % (r.stdout.strip(), r.stderr.strip()))
        if trouble:
            bad_trials.append("trial %d: %s" % (trial, "; ".join(trouble)))
    for b in bad_trials[:10]:
        print("    " + b)
    check(lost == 0, "%d trials, %d kills: every file under its final name is complete, no checkpoint lost "
          "(%d kills left a writer's temporary file: they landed during a write)" % (TRIALS, kills, in_write))
    check(identical == TRIALS, "%d of %d killed and resumed runs end with the reference's state, byte for byte, "
          "and its loss" % (identical, TRIALS))
    print("summary: trials %d, kills %d, kills during a write %d, files lost %d, resumes identical %d/%d"
          % (TRIALS, kills, in_write, lost, identical, TRIALS))

    # 3. A full disk and a read-only folder, in a mount namespace of our own.
    disk_tests(ref_state, ref_done, ref_tokens)

    # 4. Bad checkpoints are refused in one line and left as they are.
    d = os.path.join(WORK, "bad")
    shutil.copytree(ref, d)
    state = os.path.join(d, "state.safetensors")
    with open(state, "r+b") as f:
        f.truncate(len(ref_state) // 2)
    before = read(state)
    r = run(train_cmd(d, "--steps", str(STEPS + 2)))
    check(r.returncode == 1 and one_line(r.stderr) and "state.safetensors" in r.stderr and read(state) == before,
          "a truncated checkpoint is refused in one line and left alone: %s" % r.stderr.strip())
    shutil.copy(os.path.join(ref, "state.safetensors"), state)
    r = run(train_cmd(d, "--hidden", "64"))
    check(r.returncode == 1 and one_line(r.stderr) and "another run" in r.stderr and read(state) == ref_state,
          "another run's checkpoint is refused in one line and left alone: %s" % r.stderr.strip())


def namespace_prefix():
    """How to run a shell in a mount namespace of its own where tmpfs can be mounted, or None."""
    for pre in (["unshare", "-m"], ["unshare", "-rm"], ["sudo", "-n", "unshare", "-m"]):
        probe = run(pre + ["sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"])
        if probe.returncode == 0:
            return pre
    return None


def in_namespace(pre, script, env):
    return run(pre + ["sh", "-c", script], env={**os.environ, **env})


def disk_tests(ref_state, ref_done, ref_tokens):
    pre = namespace_prefix()
    if pre is None:
        print("SKIP full disk and read-only folder: no way to mount a tmpfs here (needs root, user namespaces or sudo)")
        return
    # The trainer runs inside; the script copies what it left to $OUT, outside the tmpfs.
    script = ('mount -t tmpfs -o size="$SIZE" tmpfs "$MNT" && { [ -z "$SEEDDIR" ] || cp "$SEEDDIR"/* "$MNT"/; } && '
              '{ [ "$RO" = 0 ] || mount -o remount,ro "$MNT"; } && '
              '"$TRAINER" train --data "$DATA" --dir "$MNT" --steps "$STEPS" --every "$EVERY" 2>"$OUT.err"; '
              'echo $? > "$OUT.rc"; mkdir -p "$OUT" && cp -a "$MNT"/. "$OUT"/; umount "$MNT"')
    st, tok = len(ref_state), len(ref_tokens)
    cases = [
        # name, tmpfs size, files present before, read-only, what must fail, checkpoint step left
        ("full disk at the first write (the token file)", 64 * 1024, None, False, "tokens.bin", None),
        ("full disk at the second checkpoint", tok + st + st // 2 + 16 * 1024, None, False, "state.safetensors", EVERY),
        ("read-only folder, fresh run", 1 << 20, None, True, "tokens.bin", None),
        ("read-only folder in the middle of a run", 1 << 21, "mid", True, "state.safetensors", EVERY),
    ]
    mid = os.path.join(WORK, "mid")
    shutil.rmtree(mid, ignore_errors=True)
    r = run([TRAINER, "train", "--data", os.path.join(WORK, "data.txt"), "--dir", mid, "--steps", str(EVERY),
             "--every", str(EVERY)])
    if not check(r.returncode == 0, "a run stopped at step %d, to resume on a read-only folder" % EVERY):
        return
    for i, (name, size, seed, ro, culprit, step) in enumerate(cases):
        mnt, out = os.path.join(WORK, "mnt%d" % i), os.path.join(WORK, "out%d" % i)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(mnt, exist_ok=True)
        r = in_namespace(pre, script, {
            "SIZE": str(size), "MNT": mnt, "OUT": out, "SEEDDIR": mid if seed else "", "RO": "1" if ro else "0",
            "TRAINER": TRAINER, "DATA": os.path.join(WORK, "data.txt"), "STEPS": str(STEPS), "EVERY": str(EVERY)})
        if not os.path.exists(out + ".rc"):
            check(False, "%s: the namespace ran (%s)" % (name, r.stderr.strip()))
            continue
        rc = int(read(out + ".rc").decode() or -1)
        err = read(out + ".err").decode()
        reason = "Read-only file system" if ro else "No space left on device"
        check(rc == 1 and one_line(err) and culprit in err and reason in err,
              "%s: exit status 1 and one line naming %s and the reason (status %d, said %r)" % (name, culprit, rc, err))
        left = sorted(os.listdir(out))
        check(not any(TMP.match(n) for n in left), "%s: no temporary file left behind (%s)" % (name, left))
        problems, _, got = inspect(out, ref_tokens, None)
        check(not problems and got == step, "%s: the files left are complete, checkpoint at step %s (%s)"
              % (name, step, "; ".join(problems) or "ok"))
        if step is not None:  # resume on a disk with room: the reference's bytes
            r = run(train_cmd(out))
            check(r.returncode == 0 and r.stdout == ref_done and read(os.path.join(out, "state.safetensors")) == ref_state,
                  "%s: resumed on a disk with room, it ends with the reference's state, byte for byte" % name)


main()
sys.exit(check.finish())
