/* remove_tree.h -- remove a test's scratch directory and everything in it,
 * without a shell (no quoting to get wrong, no `rm -rf` of a path with a
 * space in it).  Walks the tree with nftw, the contents of each directory
 * before the directory, and never follows a symbolic link (the link itself
 * is removed).  Returns whether everything went; each thing that would not
 * go is named in a warning.  A directory that does not exist is nothing to
 * remove (true); an empty path or "/" is a checked error (die). */
#ifndef REMOVE_TREE_H
#define REMOVE_TREE_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static int remove_tree_entry(const char *path, const struct stat *st, int type, struct FTW *where) {
    (void)st, (void)type, (void)where;
    if (remove(path) == 0) return 0;
    warn("could not remove %s: %s", path, strerror(errno));
    return 1;   /* stop the walk: nftw returns it */
}

static bool remove_tree(const char *dir) {
    if (!dir || !*dir || strcmp(dir, "/") == 0) die("remove_tree: refusing to remove '%s'", dir ? dir : "(null)");
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT) return true;
    int rc = nftw(dir, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == -1) warn("could not remove %s: %s", dir, strerror(errno));
    return rc == 0;
}

#endif
