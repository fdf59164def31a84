// SPDX-License-Identifier: MIT
// DatagramListener: the shared body of udp and unix dgram listeners (batched recvmmsg/sendmmsg).
#pragma once

#include <sys/socket.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/allow_list.h"
#include "core/kernel_drops.h"
#include "core/listener.h"
#include "core/net_address.h"
#include "core/unique_fd.h"
#include "formats/format.h"

namespace sockbridge {

struct DatagramSocketOps {
    // Opened, bound and configured, non-blocking; throws StartupError.
    std::function<UniqueFd()> open;
    // Where messages go: a fixed peer, else the last sender (when replyToLastSender).
    std::optional<SocketAddress> peer;
    bool replyToLastSender = true;
    std::string localName;  // for logs and status
    AllowList allow;        // datagrams from outside it are dropped and counted in `refused`
};

class DatagramListener : public Listener {
public:
    DatagramListener(std::string name, EventLoop &loop, const FormatKind &format, const FormatOptions &options,
                     DatagramSocketOps ops);
    ~DatagramListener() override;

    void start() override;
    void adoptSocket(UniqueFd fd) override { fd_ = std::move(fd); }
    void stopReading() override;
    void resumeReading() override;
    std::string describe() const override;
    std::vector<std::string> peers() const override;

protected:
    void drain() override;
    bool flushed() const override { return pending_.empty() && !open_; }
    int fd() const { return fd_.get(); }

private:
    void receive();
    void receiveBatches();
    void addToBatch(BatchEncoder &batch, const Message &message, const SocketAddress &to);
    void closeBatch();
    void countUnencodable(const Message &message);
    void sendPending();
    void updateEvents();
    const SocketAddress *destination() const;

    const FormatKind &format_;
    FormatOptions options_;
    std::unique_ptr<Decoder> decoder_;
    std::unique_ptr<Encoder> encoder_;
    DatagramSocketOps ops_;
    UniqueFd fd_;
    std::unique_ptr<IoWatch> watch_;
    KernelDropCounter kernelDrops_{"datagrams"};
    static constexpr size_t kBatch = 32;  // datagrams a recvmmsg/sendmmsg call
    struct ReceiveSlots {
        std::vector<uint8_t> buffers;
        iovec iovs[kBatch]{};
        sockaddr_storage addresses[kBatch]{};
        mmsghdr headers[kBatch]{};
    };
    std::unique_ptr<ReceiveSlots> slots_;  // allocated on the first read
    std::optional<SocketAddress> lastSender_;
    SocketAddress peerAddress_;  // the last datagram's sender and its name for messages' `peer`
    std::string peerName_;
    struct Outgoing {
        std::vector<uint8_t> bytes;
        SocketAddress to;
        MessagePtr message;  // raw format: sent as it is, without a copy into `bytes`

        std::span<const uint8_t> payload() const
        {
            if (message) return message->data;
            return bytes;
        }
    };
    std::deque<Outgoing> pending_;
    // Batching formats: the datagram being filled, how many messages it holds, and the timer
    // that sends it when it is not full after options_.flushTimeout.
    std::optional<Outgoing> open_;
    size_t openCount_ = 0;
    std::vector<uint8_t> scratch_;
    std::unique_ptr<Timer> flushTimer_;
    bool reading_ = true;
    bool stopped_ = false;
    bool finalRead_ = false;
    bool warnedNoPeer_ = false;
    bool warnedUnencodable_ = false;
};

}  // namespace sockbridge
