#include "nmcore/model.h"

#include <algorithm>

namespace nm {

void Model::zeroGrad()
{
    std::fill(m_grads.begin(), m_grads.end(), 0.0f);
}

long Model::addTensor(const std::string &name, std::vector<int> shape, bool decay)
{
    ParamTensor t;
    t.name = name;
    t.offset = m_tensors.empty() ? 0 : m_tensors.back().offset + m_tensors.back().size;
    t.size = 1;
    for (int d : shape)
        t.size *= d;
    t.shape = std::move(shape);
    t.decay = decay;
    m_tensors.push_back(t);
    return t.offset;
}

void Model::allocate()
{
    const long n = m_tensors.empty() ? 0 : m_tensors.back().offset + m_tensors.back().size;
    m_params.assign(static_cast<size_t>(n), 0.0f);
    m_grads.assign(static_cast<size_t>(n), 0.0f);
}

double Model::trainingFlops(const Batch &batch, std::span<const double> density) const
{
    double flops = attentionFlops(batch);
    for (size_t i = 0; i < m_linears.size(); ++i) {
        const LinearLayer &l = m_linears[i];
        const double rows =
            static_cast<double>(batch.rows) * (l.tokensPerSample > 0 ? l.tokensPerSample : std::max(batch.seqLen, 1));
        const double dense = 2.0 * rows * l.in * l.out;
        const double d = i < density.size() ? density[i] : 1.0;
        const double products = l.dataInput ? 1.0 : 2.0; // forward (+ backward-data)
        const double weightGrad = l.variant && l.variant->mvue ? 0.5 : 1.0;
        flops += dense * (products * d + weightGrad);
    }
    return flops;
}

LinearLayer &Model::addLinear(const std::string &name, int in, int out, long wOff, long bOff, bool sparseByDefault)
{
    LinearLayer l;
    l.name = name;
    l.in = in;
    l.out = out;
    l.weight = param(wOff);
    l.bias = param(bOff);
    l.dweight = grad(wOff);
    l.dbias = grad(bOff);
    l.forwardWeight = l.weight;
    l.sparseByDefault = sparseByDefault;
    m_linears.push_back(l);
    return m_linears.back();
}

} // namespace nm
