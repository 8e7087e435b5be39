/* provenance.h -- where a data file came from: one value, built once per run
 * and given to every writer of data (TSV files, Graphviz DOT files,
 * checkpoints).
 *
 * What it records.  Five things, enough to rerun the command that made a
 * number and to know how far to trust a timing:
 *     command   the command line, shell-quoted so that it can be pasted back:
 *               "build/bin/ch01-markov orders --out figures/data" (or $BOOK_COMMAND)
 *     device    where the experiments ran: "cpu (AMD EPYC 7B13, 2 threads)", or
 *               "cuda (NVIDIA H200)" once the run opens a GPU (cli.h cli_open_gpu)
 *     threads   the CPU threads the run used (cli.h --threads)
 *     git       the short revision of the repository at book_root(), with
 *               " (modified)" when tracked files outside figures/ differ from it
 *               (the data files an experiment rewrites do not count; untracked
 *               files do not either, as with `git describe --dirty`); "unknown"
 *               without git or a repository
 *     date      when the run started, UTC: "2026-11-27T21:33:41Z"
 * cli_run builds one for every run (CliCommon.prov), so every file a run
 * writes carries the same lines.
 *
 * Overrides.  A run on a machine without the repository's .git (the lent GPU
 * machine gets a copy of the tree) or a build that must be reproducible sets
 * BOOK_GIT and BOOK_DATE in the environment: provenance_init then records
 * their values as they are, instead of asking git and the clock.  A script
 * that runs a program with --out elsewhere and moves its files into
 * figures/data sets BOOK_COMMAND to the command that reproduces them
 * (bench/gpu_torch.py honours the same three).  So no script has to rewrite
 * provenance lines afterwards.  An empty variable counts as unset.
 *
 * Writing.  provenance_write prints the four lines every data file starts
 * with, each behind a comment prefix ("# " for TSV, "// " for DOT):
 *     # command: ...
 *     # device: ...
 *     # date: ...
 *     # git: ...
 * provenance_open opens any other data file atomically with those lines (and
 * a first line naming it) already written.  A checkpoint carries the same
 * five values as metadata (provenance_meta; ckpt.h ckpt_save).
 *
 * Ownership.  A Provenance owns its strings: provenance_free releases them
 * and is safe on a zeroed Provenance and twice.  It is plain data otherwise:
 * a copy made to describe one file differently (another device line) may
 * point its field at a string of its own, and must not outlive the original
 * or be freed.  Every string is one line (newlines become spaces). */
#ifndef PROVENANCE_H
#define PROVENANCE_H

#include <stdio.h>

#include "util.h"

typedef struct Provenance {
    char *command;   /* "build/bin/ch01-markov orders --quick"; "unknown" if not given; or $BOOK_COMMAND */
    char *device;    /* the device line data files carry; starts as `cpu` */
    char *cpu;       /* "cpu (AMD EPYC 7B13, 2 threads)" */
    int threads;
    char *git;       /* "a9767c0", "a9767c0 (modified)", "unknown", or $BOOK_GIT */
    char *date;      /* "2026-11-27T21:33:41Z", or $BOOK_DATE */
} Provenance;

/* Fill *p for a run of `command` (NULL: "unknown") on `threads` CPU threads
 * (0: as many as OpenMP would use). */
void provenance_init(Provenance *p, const char *command, int threads);
/* Replace the device line: "cuda (NVIDIA H200)". */
void provenance_set_device(Provenance *p, const char *device);
void provenance_free(Provenance *p);

/* The four comment lines (command, device, date, git), each PREFIX KEY: VALUE. */
void provenance_write(FILE *fp, const Provenance *p, const char *prefix);
/* DIR/FILE (DIR made like mkdir -p) opened with util.h atomic_open, its first
 * line "PREFIX NAME: DESCRIPTION" (NAME: FILE without its extension), then the
 * provenance lines; the caller writes the rest and commits with
 * atomic_commit_or_die (or atomic_abort).  For data files that are not TSV:
 * provenance_open(&af, dir, "ch02-graph.dot", "// ", prov, "the neuron"). */
FILE *provenance_open(AtomicFile *af, const char *dir, const char *file, const char *prefix,
                      const Provenance *p, const char *description);
/* The five values as checkpoint metadata: kv[0..9] = "command", p->command,
 * "device", ..., "threads", ..., "git", ..., "date", ...; the threads' digits
 * go into buf. */
enum { PROVENANCE_META = 5 };
void provenance_meta(const Provenance *p, const char *kv[2 * PROVENANCE_META], char buf[16]);

/* The pieces, for those who need one alone.  Each returns a string the
 * caller frees. */
char *provenance_cpu(int threads);       /* "cpu (AMD EPYC 7B13, 16 threads)" */
char *provenance_git(const char *root);  /* "a9767c0", "a9767c0 (modified)" or "unknown" */

#endif
