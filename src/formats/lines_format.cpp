// SPDX-License-Identifier: MIT
// LinesFormat: newline-terminated lines ("\n" or "\r\n"), the terminator not part of the message.
#include "formats/lines_format.h"

#include <cstring>

#include <fmt/format.h>

namespace sockbridge {

/**
 * \class LinesFormat::Decoder
 * \brief Splits a byte stream at every "\n"
 *
 * A line ends in "\n"; one "\r" right before it is stripped too, so "\r\n" works. The payload
 * is the line without its terminator, so an empty line yields an empty payload. A line longer
 * than FormatOptions::maxMessage bytes (terminator excluded) fails the decoder; that is noticed
 * as soon as the bytes kept for an unfinished line pass the limit, not when its "\n" comes.
 *
 * Only the bytes of each feed() are searched for "\n": the bytes kept from earlier feeds are
 * known to hold none, so a long line that arrives in many small pieces is scanned once.
 */
LinesFormat::Decoder::Decoder(const FormatOptions &options)
    : maxMessage_(options.maxMessage)
{
}

bool LinesFormat::Decoder::fail()
{
    failed_ = true;
    error_ = fmt::format("line longer than {} bytes", maxMessage_);
    partial_.clear();
    return false;
}

/*
 * Whether a line of partialSize bytes, terminator excluded but a last "\r" not yet stripped,
 * is within the limit.
 */
bool LinesFormat::Decoder::fits(size_t partialSize, bool endsInCr) const
{
    return partialSize - (endsInCr ? 1 : 0) <= maxMessage_;
}

bool LinesFormat::Decoder::feed(std::span<const uint8_t> bytes, std::vector<Payload> &out)
{
    if (failed_)
        return false;

    const uint8_t *p = bytes.data();
    const uint8_t *const end = p + bytes.size();
    while (p < end) {
        const auto *nl = static_cast<const uint8_t *>(std::memchr(p, '\n', end - p));
        if (!nl) {
            if (!fits(partial_.size() + (end - p), end[-1] == '\r'))
                return fail();
            partial_.insert(partial_.end(), p, end);
            break;
        }

        const size_t size = partial_.size() + (nl - p);
        const uint8_t *last = nl > p ? nl - 1 : partial_.empty() ? nullptr : &partial_.back();
        const bool endsInCr = last && *last == '\r';
        if (!fits(size, endsInCr))
            return fail();

        Payload line;
        if (partial_.empty()) {
            line.assign(p, nl);
        } else {
            partial_.insert(partial_.end(), p, nl);
            line = std::move(partial_);
            partial_.clear();
        }
        if (endsInCr)
            line.pop_back();
        out.push_back(std::move(line));
        p = nl + 1;
    }
    return true;
}

/**
 * \brief Yields a last line that has no "\n", as it is (a last "\r" is kept)
 * \return False when the decoder had failed or that line is too long
 */
bool LinesFormat::Decoder::finish(std::vector<Payload> &out)
{
    if (failed_)
        return false;
    if (partial_.empty())
        return true;
    if (partial_.size() > maxMessage_)
        return fail();
    out.push_back(std::move(partial_));
    partial_.clear();
    return true;
}

/**
 * \class LinesFormat::Encoder
 * \brief Appends the message's bytes and a "\n", unless they already end in one
 */
LinesFormat::Encoder::Encoder(const FormatOptions &)
{
}

bool LinesFormat::Encoder::encode(const Message &message, std::vector<uint8_t> &out)
{
    out.insert(out.end(), message.data.begin(), message.data.end());
    if (message.data.empty() || message.data.back() != '\n')
        out.push_back('\n');
    return true;
}

}  // namespace sockbridge
