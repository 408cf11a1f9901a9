/*
 * faiss_c_app.c — a FAISS user program in C, through libfaiss_c, written
 * without any knowledge of flashkm.
 *
 *   faiss_c_app ivf    OUT  IndexIVFFlat from faiss_index_factory (train,
 *                           add, search, recall@10), faiss_kmeans_clustering,
 *                           faiss_Clustering_train on an IndexFlatL2
 *   faiss_c_app errors OUT  bad input: the codes and faiss_get_last_error()
 */
#include <faiss/c_api/Clustering_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <string.h>

#include "app_common.h"

#define CHECK(call)                                                        \
    do {                                                                   \
        if ((call) != 0) {                                                 \
            fprintf(stderr, "%s failed: %s\n", #call, faiss_get_last_error()); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

enum { D = 32, NT = 20000, NB = 20000, NQ = 200, K = 10, NLIST = 64 };

static void ivf_flat(FILE *out, const float *xt, const float *xb,
                     const float *xq) {
    FaissIndex *ivf = NULL, *flat = NULL;
    CHECK(faiss_index_factory(&ivf, D, "IVF64,Flat", METRIC_L2));
    CHECK(faiss_Index_train(ivf, NT, xt));
    CHECK(faiss_Index_add(ivf, NB, xb));
    faiss_IndexIVF_set_nprobe(faiss_IndexIVF_cast(ivf), 1);

    float *quant = malloc(sizeof(float) * NLIST * D);
    CHECK(faiss_Index_reconstruct_n(faiss_IndexIVF_quantizer(faiss_IndexIVF_cast(ivf)),
                                    0, NLIST, quant));
    app_write_floats(out, "ivf_centroids", NLIST * D, quant);

    float dis[NQ * K];
    idx_t found[NQ * K], truth[NQ * K];
    CHECK(faiss_Index_search(ivf, NQ, xq, K, dis, found));
    CHECK(faiss_IndexFlatL2_new_with(&flat, D));
    CHECK(faiss_Index_add(flat, NB, xb));
    CHECK(faiss_Index_search(flat, NQ, xq, K, dis, truth));
    app_write_recall(out, "ivf_recall10", NQ, K, found, truth);
    free(quant);
    faiss_Index_free(flat);
    faiss_Index_free(ivf);
}

static void kmeans(FILE *out, const float *xt) {
    enum { KC = 100 };
    float *cent = malloc(sizeof(float) * KC * D);
    float q_error = 0;
    CHECK(faiss_kmeans_clustering(D, NT, KC, xt, cent, &q_error));
    app_write_floats(out, "kmeans_centroids", KC * D, cent);
    app_write_floats(out, "kmeans_q_error", 1, &q_error);
    free(cent);
}

static void clustering(FILE *out, const float *xt) {
    FaissClusteringParameters cp;
    faiss_ClusteringParameters_init(&cp);
    cp.niter = 12;
    cp.nredo = 2;
    cp.seed = 77;
    FaissClustering *clus = NULL;
    FaissIndexFlatL2 *index = NULL;
    CHECK(faiss_Clustering_new_with_params(&clus, D, 50, &cp));
    CHECK(faiss_IndexFlatL2_new_with(&index, D));
    CHECK(faiss_Clustering_train(clus, NT, xt, index));

    float *cent;
    size_t ncent, nstats;
    FaissClusteringIterationStats *stats;
    faiss_Clustering_centroids(clus, &cent, &ncent);
    faiss_Clustering_iteration_stats(clus, &stats, &nstats);
    app_write_floats(out, "clustering_centroids", ncent, cent);
    int *nsplit = malloc(sizeof(int) * (nstats + 1));
    float *obj = malloc(sizeof(float) * (nstats + 1));
    /* The C API hands out an array of opaque entries; its element size is
     * that of FAISS's C++ struct, which C users mirror to step through. */
    struct stats_mirror {
        float obj;
        double time, time_search, imbalance_factor;
        int nsplit;
    };
    for (size_t i = 0; i < nstats; i++) {
        const FaissClusteringIterationStats *s =
                (const FaissClusteringIterationStats *)((const char *)stats +
                                                        i * sizeof(struct stats_mirror));
        nsplit[i] = faiss_ClusteringIterationStats_nsplit(s);
        obj[i] = faiss_ClusteringIterationStats_obj(s);
    }
    app_write_ints(out, "clustering_nsplit", nstats, nsplit);
    app_write_floats(out, "clustering_obj", nstats, obj);
    /* the index holds the final centroids, as FAISS leaves it */
    float *in_index = malloc(sizeof(float) * ncent);
    CHECK(faiss_Index_reconstruct_n((FaissIndex *)index, 0,
                                    faiss_Index_ntotal((FaissIndex *)index),
                                    in_index));
    app_write_floats(out, "clustering_index", ncent, in_index);
    free(in_index);
    free(nsplit);
    free(obj);
    faiss_Index_free((FaissIndex *)index);
    faiss_Clustering_free(clus);
}

static void record(FILE *out, const char *name, int rc) {
    char text[64];
    snprintf(text, sizeof text, "rc=%d ", rc);
    fprintf(out, "error %s_rc %s\n", name, text);
    app_write_error(out, name, rc ? faiss_get_last_error() : "(no error)");
}

static void errors(FILE *out, float *xt) {
    float *cent = malloc(sizeof(float) * 200 * D);
    float q;
    /* fewer points than centroids */
    record(out, "kmeans_n_lt_k", faiss_kmeans_clustering(D, 150, 200, xt, cent, &q));

    FaissClustering *clus = NULL;
    FaissIndexFlatL2 *index = NULL, *wrong_d = NULL;
    CHECK(faiss_Clustering_new(&clus, D, 20));
    CHECK(faiss_IndexFlatL2_new_with(&index, D));
    CHECK(faiss_IndexFlatL2_new_with(&wrong_d, D + 1));
    record(out, "train_index_d", faiss_Clustering_train(clus, 2000, xt, wrong_d));
    float saved = xt[123];
    xt[123] = NAN;
    record(out, "train_nan", faiss_Clustering_train(clus, 2000, xt, index));
    xt[123] = saved;
    record(out, "train_n_lt_k", faiss_Clustering_train(clus, 10, xt, index));
    faiss_Index_free((FaissIndex *)wrong_d);
    faiss_Index_free((FaissIndex *)index);
    faiss_Clustering_free(clus);
    free(cent);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "ivf") && strcmp(argv[1], "errors"))) {
        fprintf(stderr, "usage: %s ivf|errors OUT\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 2;
    }
    /* one mixture: training, database and query points */
    float *all = app_gmm(NT + NB + NQ, D, 40, 1);
    float *xt = all;
    float *xb = all + (size_t)NT * D;
    float *xq = all + (size_t)(NT + NB) * D;
    if (strcmp(argv[1], "ivf") == 0) {
        ivf_flat(out, xt, xb, xq);
        kmeans(out, xt);
        clustering(out, xt);
    } else {
        errors(out, xt);
    }
    free(all);
    return fclose(out) == 0 ? 0 : 1;
}
