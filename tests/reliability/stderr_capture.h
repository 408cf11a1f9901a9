// stderr_capture.h — stderr redirected into a temporary file while a call
// runs, then its lines: the plugin's warnings go to stderr, and these tests
// count them (exactly one per fallback, none otherwise).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct StderrCapture {
    char path[64];
    int saved = -1;
    // Reusable: mkstemp overwrites the template, so it is set each time.
    void start() {
        std::strcpy(path, "/tmp/fkm_stderr_XXXXXX");
        int fd = mkstemp(path);
        std::fflush(stderr);
        saved = dup(2);
        dup2(fd, 2);
        close(fd);
    }
    std::vector<std::string> stop() {
        std::fflush(stderr);
        dup2(saved, 2);
        close(saved);
        std::vector<std::string> lines;
        if (std::FILE *f = std::fopen(path, "r")) {
            char buf[1024];
            while (std::fgets(buf, sizeof buf, f)) lines.emplace_back(buf);
            std::fclose(f);
        }
        unlink(path);
        return lines;
    }
};
