/* cli.c -- see cli.h for the contract. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "util.h"

/* The flags every program has, as options of their own; the targets are
 * filled in by common_options() for one CliCommon. */
enum { NCOMMON = 6 };
static const char *const common_names[] = {"seed", "threads", "out", "quick", "data", "device",
                                           "help"};

static int64_t all_cores(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
#endif
}

static const char *devices_of(const CliSpec *spec) { return spec->gpu ? "cpu|cuda" : "cpu"; }

static void common_options(const CliSpec *spec, CliCommon *c, CliOpt opts[NCOMMON]) {
    opts[0] = (CliOpt){"seed", OPT_U64, &c->seed, "seed of the random number generator", 0, 0, NULL};
    opts[1] = (CliOpt){"threads", OPT_INT, &c->threads, "CPU threads", 1, 65536, NULL};
    opts[2] = (CliOpt){"out", OPT_STRING, &c->out, "where the experiments write their data", 0, 0, "DIR"};
    opts[3] = (CliOpt){"quick", OPT_BOOL, &c->quick, "test-size run that finishes in seconds", 0, 0, NULL};
    opts[4] = (CliOpt){"data", OPT_STRING, &c->data, "corpus: brown, sotu, mobydick, names (corpus.h) or a text file",
                       0, 0, "NAME|PATH"};
    opts[5] = (CliOpt){"device", OPT_DEVICE, &c->device, "where the experiments run", 0, 0, devices_of(spec)};
}

static CliCommon defaults(void) {
    return (CliCommon){.seed = 1, .threads = all_cores(), .out = "figures/data", .data = "brown",
                       .device = DEV_CPU};
}

/* ---- Errors ---------------------------------------------------------------- */

static int usage(const CliSpec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(const CliSpec *spec, const char *fmt, ...) {
    char msg[1024];  /* a huge value is cut, and control characters in one escaped: one line */
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: ", spec->program);
    fput_one_line(stderr, msg, 0);
    fputc('\n', stderr);
    return 2;
}

static bool has_range(const CliOpt *o) { return !(o->min == 0 && o->max == 0); }

/* "a|b|c" contains "b" as a whole alternative. */
static bool in_choices(const char *choices, const char *s) {
    size_t n = strlen(s);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return true;
        p = bar ? bar + 1 : p + len;
    }
    return false;
}

/* What a value of this option looks like, for messages: "an integer in [1, 12]". */
static void describe(const CliOpt *o, char *buf, size_t n) {
    switch (o->kind) {
    case OPT_INT:
        if (has_range(o)) snprintf(buf, n, "an integer in [%.0f, %.0f]", o->min, o->max);
        else snprintf(buf, n, "an integer");
        break;
    case OPT_U64: snprintf(buf, n, "an integer in [0, 18446744073709551615]"); break;
    case OPT_DOUBLE:
        if (has_range(o)) snprintf(buf, n, "a number in [%.10g, %.10g]", o->min, o->max);
        else snprintf(buf, n, "a finite number");
        break;
    case OPT_STRING: snprintf(buf, n, "a non-empty value"); break;
    case OPT_BOOL: snprintf(buf, n, "true or false"); break;
    case OPT_CHOICE:
    case OPT_DEVICE: snprintf(buf, n, "one of %s", o->choices); break;
    }
}

/* ---- Parsing values ------------------------------------------------------------ */

static bool parse_int64(const char *s, int64_t *v) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0') return false;
    *v = (int64_t)x;
    return true;
}

static bool parse_uint64(const char *s, uint64_t *v) {
    if (!isdigit((unsigned char)*s)) return false; /* strtoull would accept " 1", "+1" and "-1" */
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0') return false;
    *v = (uint64_t)x;
    return true;
}

static bool parse_double(const char *s, double *v) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    double x = strtod(s, &end);
    if (*end != '\0' || isnan(x)) return false; /* overflow gives an infinity: the range decides */
    *v = x;
    return true;
}

static bool parse_bool(const char *s, bool *v) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) { *v = true; return true; }
        if (strcmp(s, no[i]) == 0) { *v = false; return true; }
    }
    return false;
}

/* Store value into o's target; on bad input print the message and return 2. */
static int set_value(const CliSpec *spec, const CliOpt *o, const char *value) {
    char what[160];
    describe(o, what, sizeof what);
    switch (o->kind) {
    case OPT_U64: {
        uint64_t u;
        if (!parse_uint64(value, &u)) return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        *(uint64_t *)o->target = u;
        break;
    }
    case OPT_INT: {
        int64_t x;
        if (!parse_int64(value, &x) || (has_range(o) && ((double)x < o->min || (double)x > o->max)))
            return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        *(int64_t *)o->target = x;
        break;
    }
    case OPT_DOUBLE: {
        double x;
        bool ok = parse_double(value, &x);
        if (ok && has_range(o)) ok = x >= o->min && x <= o->max;
        else if (ok) ok = isfinite(x);
        if (!ok) return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        *(double *)o->target = x;
        break;
    }
    case OPT_STRING:
        if (!*value) return usage(spec, "--%s expects %s", o->name, what);
        *(const char **)o->target = value;
        break;
    case OPT_BOOL: {
        bool b;
        if (!parse_bool(value, &b)) return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        *(bool *)o->target = b;
        break;
    }
    case OPT_CHOICE:
        if (!in_choices(o->choices, value)) return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        *(const char **)o->target = value;
        break;
    case OPT_DEVICE: {
        Device d;
        if (!device_from_name(value, &d)) return usage(spec, "--%s expects %s, got '%s'", o->name, what, value);
        if (!in_choices(o->choices, value))
            return usage(spec, "--%s %s: this chapter has no GPU code (accepted: %s)", o->name, value, o->choices);
        *(Device *)o->target = d;
        break;
    }
    }
    return 0;
}

/* ---- Checking the spec (programming errors die) ------------------------------------ */

static void check_spec(const CliSpec *spec) {
    if (!spec || !spec->program) die("cli: the CliSpec has no program name");
    for (size_t i = 0; i < spec->ncommands; i++) {
        const CliCommand *c = &spec->commands[i];
        if (!c->name || !*c->name || c->name[0] == '-' || !c->run)
            die("cli: %s: experiment %zu has no name or no run function", spec->program, i);
        if (strcmp(c->name, "all") == 0)
            die("cli: %s: \"all\" is built in (it runs the experiments marked in_all); rename experiment %zu",
                spec->program, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->commands[j].name, c->name) == 0)
                die("cli: %s: two experiments are named '%s'", spec->program, c->name);
    }
    for (size_t i = 0; i < spec->nopts; i++) {
        const CliOpt *o = &spec->opts[i];
        if (!o->name || !*o->name || strchr(o->name, '=') || o->name[0] == '-' || !o->target)
            die("cli: %s: option %zu has no name, a bad name or no target", spec->program, i);
        for (size_t j = 0; j < sizeof common_names / sizeof *common_names; j++)
            if (strcmp(o->name, common_names[j]) == 0)
                die("cli: %s: option --%s clashes with a flag every program has", spec->program, o->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->opts[j].name, o->name) == 0)
                die("cli: %s: two options are named --%s", spec->program, o->name);
        if ((o->kind == OPT_INT || o->kind == OPT_DOUBLE) && o->min > o->max)
            die("cli: %s: --%s has min %g > max %g", spec->program, o->name, o->min, o->max);
        if (o->kind == OPT_U64 && has_range(o))
            die("cli: %s: --%s is OPT_U64, which takes no range (min and max 0)", spec->program, o->name);
        if (o->kind == OPT_INT && has_range(o)) {
            int64_t v = *(const int64_t *)o->target;
            if ((double)v < o->min || (double)v > o->max)
                die("cli: %s: the default of --%s (%lld) is outside [%.0f, %.0f]", spec->program, o->name,
                    (long long)v, o->min, o->max);
        }
        if (o->kind == OPT_DOUBLE) {
            double v = *(const double *)o->target;
            if (isnan(v) || (has_range(o) && (v < o->min || v > o->max)))
                die("cli: %s: the default of --%s (%g) is outside [%g, %g]", spec->program, o->name, v, o->min,
                    o->max);
        }
        if (o->kind == OPT_CHOICE || o->kind == OPT_DEVICE) {
            const char *v = o->kind == OPT_CHOICE ? *(const char *const *)o->target
                                                  : device_name(*(const Device *)o->target);
            if (!o->choices || !*o->choices) die("cli: %s: --%s has no choices", spec->program, o->name);
            if (!v || !in_choices(o->choices, v))
                die("cli: %s: the default of --%s (%s) is not one of %s", spec->program, o->name,
                    v ? v : "NULL", o->choices);
        }
    }
}

/* ---- Help ---------------------------------------------------------------------- */

/* Print text wrapped at width columns, each line indented by indent spaces;
 * explicit newlines in text are kept. */
static void wrap(FILE *fp, const char *text, int indent, int width) {
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        int col = 0;
        fprintf(fp, "%*s", indent, "");
        while (p < eol) {
            while (p < eol && *p == ' ') p++;
            const char *w = p;
            while (p < eol && *p != ' ') p++;
            int len = (int)(p - w);
            if (len == 0) break;
            if (col > 0 && indent + col + 1 + len > width) {
                fprintf(fp, "\n%*s", indent, "");
                col = 0;
            }
            fprintf(fp, "%s%.*s", col > 0 ? " " : "", len, w);
            col += (col > 0) + len;
        }
        fputc('\n', fp);
        p = *eol ? eol + 1 : eol;
    }
}

/* Print text from column `indent` (where the cursor is), wrapped at width,
 * continuation lines indented to the same column. */
static void wrap_rest(FILE *fp, const char *text, int indent, int width) {
    int col = indent;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        const char *w = p;
        while (*p && *p != ' ') p++;
        int len = (int)(p - w);
        if (len == 0) break;
        if (col > indent && col + 1 + len > width) {
            fprintf(fp, "\n%*s", indent, "");
            col = indent;
        }
        fprintf(fp, "%s%.*s", col > indent ? " " : "", len, w);
        col += (col > indent) + len;
    }
    fputc('\n', fp);
}

static void option_left(const CliOpt *o, char *buf, size_t n) {
    const char *meta = "";
    switch (o->kind) {
    case OPT_INT:
    case OPT_U64: meta = "N"; break;
    case OPT_DOUBLE: meta = "X"; break;
    case OPT_STRING: meta = o->choices && *o->choices ? o->choices : "TEXT"; break;
    case OPT_BOOL: break;
    case OPT_CHOICE:
    case OPT_DEVICE: meta = o->choices; break;
    }
    snprintf(buf, n, "--%s%s%s", o->name, *meta ? " " : "", meta);
}

static void option_default(const CliOpt *o, bool is_threads, char *buf, size_t n) {
    switch (o->kind) {
    case OPT_U64: snprintf(buf, n, "default %llu", (unsigned long long)*(const uint64_t *)o->target); break;
    case OPT_INT:
        if (is_threads) snprintf(buf, n, "default: all %lld cores", (long long)all_cores());
        else if (has_range(o))
            snprintf(buf, n, "default %lld; %.0f to %.0f", (long long)*(const int64_t *)o->target, o->min,
                     o->max);
        else snprintf(buf, n, "default %lld", (long long)*(const int64_t *)o->target);
        break;
    case OPT_DOUBLE:
        if (has_range(o))
            snprintf(buf, n, "default %.10g; %.10g to %.10g", *(const double *)o->target, o->min, o->max);
        else snprintf(buf, n, "default %.10g", *(const double *)o->target);
        break;
    case OPT_STRING: {
        const char *v = *(const char *const *)o->target;
        if (!v) snprintf(buf, n, "no default");
        else if (!*v) snprintf(buf, n, "default: empty");
        else snprintf(buf, n, "default %s", v);
        break;
    }
    case OPT_BOOL:
        snprintf(buf, n, *(const bool *)o->target ? "default on; --no-%s turns it off" : "default off",
                 o->name);
        break;
    case OPT_CHOICE: snprintf(buf, n, "default %s", *(const char *const *)o->target); break;
    case OPT_DEVICE: snprintf(buf, n, "default %s", device_name(*(const Device *)o->target)); break;
    }
}

static void print_options(FILE *fp, const CliOpt *opts, size_t n, int width, const CliCommon *c) {
    for (size_t i = 0; i < n; i++) {
        char left[128], def[160];
        option_left(&opts[i], left, sizeof left);
        bool is_threads = c && opts[i].target == &c->threads;
        option_default(&opts[i], is_threads, def, sizeof def);
        fprintf(fp, "  %-*s  %s (%s)\n", width, left, opts[i].help ? opts[i].help : "", def);
    }
}

/* How many experiments `all` runs (0: the program has no "all"). */
static size_t count_in_all(const CliSpec *spec) {
    size_t n = 0;
    for (size_t i = 0; i < spec->ncommands; i++) n += spec->commands[i].in_all;
    return n;
}

static void help(const CliSpec *spec, const CliCommon *c, FILE *fp) {
    CliCommon shown = *c;
    CliOpt copts[NCOMMON];
    common_options(spec, &shown, copts);

    int width = (int)strlen("-h, --help");
    char left[128];
    for (size_t i = 0; i < spec->nopts; i++) {
        option_left(&spec->opts[i], left, sizeof left);
        if ((int)strlen(left) > width) width = (int)strlen(left);
    }
    for (int i = 0; i < NCOMMON; i++) {
        option_left(&copts[i], left, sizeof left);
        if ((int)strlen(left) > width) width = (int)strlen(left);
    }
    int cwidth = 3;
    for (size_t i = 0; i < spec->ncommands; i++)
        if ((int)strlen(spec->commands[i].name) > cwidth) cwidth = (int)strlen(spec->commands[i].name);

    if (spec->summary) {
        char *first = xasprintf("%s -- %s", spec->program, spec->summary);
        wrap(fp, first, 0, 78);
        free(first);
    } else {
        fprintf(fp, "%s\n", spec->program);
    }
    fprintf(fp, "\nusage: %s EXPERIMENT [options]\n\nexperiments:\n", spec->program);
    for (size_t i = 0; i < spec->ncommands; i++)
        fprintf(fp, "  %-*s  %s\n", cwidth, spec->commands[i].name,
                spec->commands[i].help ? spec->commands[i].help : "");
    if (count_in_all(spec)) {
        char line[512] = "";
        for (size_t i = 0; i < spec->ncommands; i++)
            if (spec->commands[i].in_all)
                snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", *line ? ", " : "",
                         spec->commands[i].name);
        char *all = xasprintf("%s, in turn, each one timed (the book's figures)", line);
        fprintf(fp, "  %-*s  ", cwidth, "all");
        wrap_rest(fp, all, cwidth + 4, 78);
        free(all);
    }
    if (spec->nopts) {
        fprintf(fp, "\noptions:\n");
        print_options(fp, spec->opts, spec->nopts, width, NULL);
    }
    fprintf(fp, "\ncommon options:\n");
    if (spec->no_corpus) {   /* every common option but --data */
        print_options(fp, copts, 4, width, &shown);
        print_options(fp, copts + 5, NCOMMON - 5, width, &shown);
    } else {
        print_options(fp, copts, NCOMMON, width, &shown);
    }
    fprintf(fp, "  %-*s  %s\n", width, "-h, --help", "print this help and exit");
    if (spec->footer) {
        fputc('\n', fp);
        wrap(fp, spec->footer, 0, 78);
    }
}

void cli_print_help(const CliSpec *spec, FILE *fp) {
    CliCommon c = defaults();
    help(spec, &c, fp);
}

/* ---- argv as a shell line ---------------------------------------------------------------- */

static bool shell_safe(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_-./=:,+@%^", *s)) return false;
    return true;
}

char *cli_join_argv(int argc, char **argv) {
    size_t cap = 1;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3;
    char *s = xmalloc(cap), *p = s;
    for (int i = 0; i < argc; i++) {
        if (i) *p++ = ' ';
        if (shell_safe(argv[i])) {
            p = stpcpy(p, argv[i]);
            continue;
        }
        *p++ = '\'';
        for (const char *q = argv[i]; *q; q++) {
            if (*q == '\'') p = stpcpy(p, "'\\''");
            else *p++ = *q;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

/* ---- Running ---------------------------------------------------------------------------- */

static const CliOpt *find_option(const CliSpec *spec, const CliOpt copts[NCOMMON], const char *name,
                                 size_t len) {
    for (size_t i = 0; i < spec->nopts; i++)
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0)
            return &spec->opts[i];
    for (int i = 0; i < NCOMMON; i++)
        if (strlen(copts[i].name) == len && strncmp(copts[i].name, name, len) == 0 &&
            !(spec->no_corpus && copts[i].target == copts[4].target))   /* --data */
            return &copts[i];
    return NULL;
}

static void list_experiments(const CliSpec *spec, FILE *fp) {
    for (size_t i = 0; i < spec->ncommands; i++) fprintf(fp, "%s%s", i ? ", " : "", spec->commands[i].name);
    if (count_in_all(spec)) fprintf(fp, "%sall", spec->ncommands ? ", " : "");
}

/* Every experiment marked in_all, in order, each timed; one line of times at the end. */
int cli_run_all(const CliSpec *spec, void *ctx) {
    size_t n = count_in_all(spec), k = 0;
    double *secs = xcalloc(n, sizeof *secs), t_all = now_seconds();
    int rc = 0;
    for (size_t i = 0; i < spec->ncommands && rc == 0; i++) {
        const CliCommand *c = &spec->commands[i];
        if (!c->in_all) continue;
        fprintf(stderr, "%s all: %s (%zu of %zu)\n", spec->program, c->name, k + 1, n);
        double t0 = now_seconds();
        rc = c->run(ctx);
        secs[k] = now_seconds() - t0;
        if (rc != 0)
            fprintf(stderr, "%s all: %s failed (exit status %d) after %.1f s; stopping\n", spec->program, c->name,
                    rc, secs[k]);
        else
            fprintf(stderr, "%s all: %s done in %.1f s\n", spec->program, c->name, secs[k]);
        k++;
    }
    if (rc == 0) {
        fprintf(stderr, "%s all: %zu experiments in %.1f s:", spec->program, n, now_seconds() - t_all);
        k = 0;
        for (size_t i = 0; i < spec->ncommands; i++)
            if (spec->commands[i].in_all) fprintf(stderr, "%s %s %.1f s", k ? "," : "", spec->commands[i].name, secs[k]), k++;
        fputc('\n', stderr);
    }
    free(secs);
    return rc;
}

int cli_run(const CliSpec *spec, CliCommon *common, int argc, char **argv, void *ctx) {
    check_spec(spec);
    *common = defaults();
    CliOpt copts[NCOMMON];
    common_options(spec, common, copts);

    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            help(spec, common, stdout);
            fflush(stdout);
            return 0;
        }

    const char *experiment = NULL;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && a[0] == '-' && a[1] != '\0') {
            if (a[1] != '-') return usage(spec, "unknown option %s (see --help)", a);
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const CliOpt *o = find_option(spec, copts, name, len);
            bool negated = false;
            if (!o && len > 3 && strncmp(name, "no-", 3) == 0) {
                o = find_option(spec, copts, name + 3, len - 3);
                if (o && o->kind != OPT_BOOL) o = NULL;
                negated = o != NULL;
            }
            if (!o && spec->no_corpus && len == 4 && strncmp(name, "data", 4) == 0)
                return usage(spec, "--data: this chapter reads no corpus");
            if (!o) return usage(spec, "unknown option --%.*s (see --help)", (int)len, name);
            if (o->kind == OPT_BOOL && !eq) {
                *(bool *)o->target = !negated;
                continue;
            }
            if (negated) return usage(spec, "--no-%s takes no value", o->name);
            const char *value = eq ? eq + 1 : NULL;
            if (!value) {
                if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                    char what[160];
                    describe(o, what, sizeof what);
                    return usage(spec, "--%s needs a value: %s", o->name, what);
                }
                value = argv[++i];
            }
            int rc = set_value(spec, o, value);
            if (rc) return rc;
            continue;
        }
        if (experiment)
            return usage(spec, "unexpected argument '%s' after the experiment '%s' (one experiment per run)", a,
                         experiment);
        experiment = a;
    }

    if (!experiment) {
        help(spec, common, stderr);
        fprintf(stderr, "\n%s: no experiment given; choose one of: ", spec->program);
        list_experiments(spec, stderr);
        fputc('\n', stderr);
        return 2;
    }
    const CliCommand *cmd = NULL;
    for (size_t i = 0; i < spec->ncommands; i++)
        if (strcmp(spec->commands[i].name, experiment) == 0) cmd = &spec->commands[i];
    if (!cmd && !(strcmp(experiment, "all") == 0 && count_in_all(spec))) {
        fflush(stdout);
        fprintf(stderr, "%s: unknown experiment '", spec->program);
        fput_one_line(stderr, experiment, 100);
        fputs("'; choose one of: ", stderr);
        list_experiments(spec, stderr);
        fputc('\n', stderr);
        return 2;
    }
#ifdef _OPENMP
    omp_set_num_threads((int)common->threads);
#endif
    char *line = cli_join_argv(argc, argv);
    provenance_init(&common->prov, line, (int)common->threads);
    free(line);
    return cmd ? cmd->run(ctx) : cli_run_all(spec, ctx);
}

void cli_free(CliCommon *common) { provenance_free(&common->prov); }

void cli_common_init(CliCommon *common, const char *command) {
    *common = defaults();
    provenance_init(&common->prov, command, (int)common->threads);
}
