#pragma once
// Explicit, seeded random numbers with a fixed algorithm (xoshiro256** seeded through
// splitmix64, Box-Muller normals), so runs are bit-identical across standard libraries.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace nm {

class Rng {
  public:
    explicit Rng(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed)
    {
        for (auto &s : m_s) {
            seed += 0x9e3779b97f4a7c15ULL;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
        m_hasSpare = false;
    }

    uint64_t next()
    {
        const uint64_t result = rotl(m_s[1] * 5, 7) * 9;
        const uint64_t t = m_s[1] << 17;
        m_s[2] ^= m_s[0];
        m_s[3] ^= m_s[1];
        m_s[1] ^= m_s[2];
        m_s[0] ^= m_s[3];
        m_s[2] ^= t;
        m_s[3] = rotl(m_s[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 24 random bits.
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }

    // Uniform integer in [0, n).
    uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

    float normal()
    {
        if (m_hasSpare) {
            m_hasSpare = false;
            return m_spare;
        }
        double u1 = 0.0;
        while (u1 <= 0.0)
            u1 = static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
        const double u2 = static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
        const double r = std::sqrt(-2.0 * std::log(u1));
        m_spare = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
        m_hasSpare = true;
        return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
    }

    // The whole generator state (xoshiro words, then the Box–Muller spare and its flag), so a
    // checkpoint continues the same stream.
    std::array<uint64_t, 6> state() const
    {
        uint32_t spare = 0;
        std::memcpy(&spare, &m_spare, sizeof spare);
        return {m_s[0], m_s[1], m_s[2], m_s[3], spare, m_hasSpare ? 1u : 0u};
    }
    void setState(const std::array<uint64_t, 6> &s)
    {
        for (int i = 0; i < 4; ++i)
            m_s[i] = s[static_cast<size_t>(i)];
        const uint32_t spare = static_cast<uint32_t>(s[4]);
        std::memcpy(&m_spare, &spare, sizeof spare);
        m_hasSpare = s[5] != 0;
    }

  private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t m_s[4] = {};
    float m_spare = 0.0f;
    bool m_hasSpare = false;
};

} // namespace nm
