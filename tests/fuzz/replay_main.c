/* replay_main.c — the fuzz harnesses without libFuzzer: run
 * LLVMFuzzerTestOneInput once on each file given (or on each file of each
 * directory given), then exit 0. Built with the normal compiler and ASan +
 * UBSan, so CI replays the committed corpus without needing libFuzzer;
 * any broken invariant aborts, any sanitizer finding or leak fails. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "replay: cannot open %s\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    size_t got = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    LLVMFuzzerTestOneInput(buf, got);  /* exactly `got` bytes: ASan checks */
    free(buf);
    return 0;
}

static int run_path(const char *path, long *count) {
    struct stat sb;
    if (stat(path, &sb) != 0) { fprintf(stderr, "replay: no %s\n", path); return 1; }
    if (!S_ISDIR(sb.st_mode)) { (*count)++; return run_file(path); }
    DIR *dir = opendir(path);
    if (!dir) return 1;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *full = malloc(len);
        snprintf(full, len, "%s/%s", path, e->d_name);
        bad |= run_path(full, count);
        free(full);
    }
    closedir(dir);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    long count = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= run_path(argv[i], &count);
    fprintf(stderr, "replay: %ld inputs run%s\n", count, bad ? " (some unreadable)" : "");
    return bad || count == 0;
}
