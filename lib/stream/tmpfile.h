/* stream/tmpfile.h: the temporary of an atomic output. A writer of PATH
 * writes PATH.tmp.PID and renames it over PATH when the output is complete,
 * so a failed run never leaves a partial PATH. A run killed by SIGKILL (no
 * exit handler runs) leaves its PATH.tmp.PID behind; the next writer of the
 * same PATH removes such stale temporaries, and never one of a live writer:
 * every writer holds an flock on its temporary while it writes (released by
 * the kernel when the process dies, however it dies), and the PID in the
 * name must not be a live process either. Depends on nothing but libc. */
#ifndef OTC_TMPFILE_H
#define OTC_TMPFILE_H

/* Remove the stale temporaries of path first, then create PATH.tmp.PID
 * (truncated, mode 0666 minus the umask) and lock it. The fd, with the
 * temporary's name (malloc'd) in *tmp; -1 with errno on failure. */
int rec_tmp_create(const char *path, char **tmp);
/* The same without the sweep (the caller swept already, e.g. once for many
 * outputs with rec_tmp_sweep_prefix). */
int rec_tmp_create_only(const char *path, char **tmp);
/* Remove the files PATH.tmp.N (N decimal) whose writer is gone: no live
 * process N and no lock held on the file. Returns how many were removed.
 * It reads PATH's directory: once per output, so a program that writes
 * many outputs in one directory sweeps them once by prefix. */
int rec_tmp_sweep(const char *path);
/* The same for every output whose name starts with PREFIX (PREFIX...tmp.N). */
int rec_tmp_sweep_prefix(const char *prefix);

#endif
