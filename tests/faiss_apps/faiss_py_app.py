#!/usr/bin/python3
"""faiss_py_app.py — a FAISS user program in Python (Debian's python3-faiss),
written without any knowledge of flashkm.

  faiss_py_app.py kmeans OUT   faiss.Kmeans (L2 and spherical), then an
                               IndexIVFPQ: train, add, search, recall@10
  faiss_py_app.py errors OUT   bad input: the RuntimeError texts
"""
import sys

import faiss
import numpy as np


def gmm(n, d, modes, seed):
    rs = np.random.RandomState(seed)
    centres = rs.randn(modes, d).astype('float32')
    labels = rs.randint(modes, size=n)
    return (centres[labels] + 0.3 * rs.randn(n, d)).astype('float32')


def floats(out, name, values):
    values = np.asarray(values, dtype='float32').ravel()
    out.write('floats %s %d %s\n' % (name, values.size,
              ' '.join('%.9g' % v for v in values)))


def ints(out, name, values):
    values = [int(v) for v in values]
    out.write('ints %s %d %s\n' % (name, len(values),
              ' '.join(str(v) for v in values)))


def recall(out, name, found, truth):
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth))
    out.write('recall %s 1 %.6f\n' % (name, hits / truth.size))


def run_kmeans(out):
    d = 32
    x = gmm(22000, d, 60, 3)
    xt, xb, xq = x[:10000], x[10000:21800], x[21800:]
    for name, kw in (('kmeans', dict(niter=15, seed=99)),
                     ('spherical', dict(niter=10, spherical=True, nredo=2))):
        km = faiss.Kmeans(d, 80, **kw)
        km.train(xt)
        floats(out, name + '_centroids', km.centroids)
        floats(out, name + '_obj', km.obj)
        stats = km.iteration_stats
        ints(out, name + '_nsplit', [s['nsplit'] for s in stats])

    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFPQ(quantizer, d, 64, 8, 8)
    index.train(xt)
    index.add(xb)
    index.nprobe = 4
    floats(out, 'ivf_centroids', quantizer.reconstruct_n(0, 64))
    floats(out, 'pq_centroids', faiss.vector_to_array(index.pq.centroids))
    _, found = index.search(xq, 10)
    exact = faiss.IndexFlatL2(d)
    exact.add(xb)
    _, truth = exact.search(xq, 10)
    recall(out, 'ivfpq_recall10', found, truth)


def run_errors(out):
    x = gmm(3000, 16, 10, 5)
    cases = {
        'n_lt_k': lambda: faiss.Kmeans(16, 100).train(x[:50]),
        'nan': lambda: faiss.Kmeans(16, 10).train(
            np.where(np.arange(x.size).reshape(x.shape) == 99, np.inf, x)),
        'index_d': lambda: faiss.Clustering(16, 10).train(
            x, faiss.IndexFlatL2(17)),
    }
    for name, f in cases.items():
        try:
            f()
            text = '(no exception)'
        except RuntimeError as e:
            text = str(e)
        out.write('error %s %s\n' % (name, text.replace('\n', ' ')))


def main():
    modes = {'kmeans': run_kmeans, 'errors': run_errors}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        sys.exit('usage: faiss_py_app.py kmeans|errors OUT')
    with open(sys.argv[2], 'w') as out:
        modes[sys.argv[1]](out)


if __name__ == '__main__':
    main()
