// SPDX-License-Identifier: MIT
// can-bcm: config parsing and validation with positions, and the bcm_msg_head bytes it writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "config_test_helpers.h"
#include "config/config.h"
#include "core/bcm_message.h"
#include "formats/format.h"

using namespace sockbridge;
using namespace std::chrono_literals;
using ::testing::ElementsAre;

namespace {

std::vector<std::string> errorsOf(const std::string &yaml) { return configErrorsOf(yaml, "bcm.yaml"); }

uint32_t u32(const std::vector<uint8_t> &bytes, size_t offset)
{
    uint32_t value;
    std::memcpy(&value, bytes.data() + offset, 4);
    return value;
}

// bcm_timeval is two longs: 8 bytes each on LP64, 4 on ILP32.
long timevalField(const std::vector<uint8_t> &bytes, size_t offset)
{
    long value;
    std::memcpy(&value, bytes.data() + offset, sizeof(value));
    return value;
}

std::vector<uint8_t> slice(const std::vector<uint8_t> &bytes, size_t offset, size_t n)
{
    return {bytes.begin() + long(offset), bytes.begin() + long(offset + n)};
}

// bcm_msg_head: opcode 0, flags 4, count 8, then on LP64 (x86_64, aarch64) ival1 16, ival2 32,
// can_id 48, nframes 52, frames from 56; on ILP32 (armhf) ival1 12, ival2 20, can_id 28,
// nframes 32, frames from 40 (frames are 8-byte aligned).
struct HeadLayout {
    size_t ival1Sec, ival1Usec, ival2Sec, ival2Usec, canId, nframes, size;
};
constexpr HeadLayout kLayout = sizeof(long) == 8 ? HeadLayout{16, 24, 32, 40, 48, 52, 56}
                                                 : HeadLayout{12, 16, 20, 24, 28, 32, 40};
constexpr size_t kHead = kLayout.size;

}  // namespace

TEST(CanBcmConfig, AcceptsTransmitAndReceiveJobs)
{
    Config config = parseConfig(R"(listeners:
  heartbeat:
    type: can-bcm
    interface: vcan0
    transmit:
      - {id: 0x123, interval: 100ms, data: "11 22 33 44"}
      - {id: 0x18DAF110, extended: true, count: 5, first_interval: 10ms, interval: 1s, data: "0102"}
      - {id: 0x124, count: 3, first_interval: 5ms, data: ""}
    receive:
      - {id: 0x200, mask: "FF 00 00 00 00 00 00 00", throttle: 50ms, timeout: 1s}
      - {id: 0x201}
      - {id: 0x10, extended: true, changes_only: true}
  tcp: {type: tcp, listen: 127.0.0.1:7000, format: candump}
routes:
  - {from: tcp, to: heartbeat, write: true}
  - {from: heartbeat, to: tcp}
)",
                                "ok.yaml");
    ASSERT_EQ(config.listeners.size(), 2u);
    EXPECT_EQ(config.listeners[0]->kind, "can-bcm");
    EXPECT_TRUE(config.listeners[0]->writesToBus());
}

TEST(CanBcmConfig, RouteIntoItNeedsWrite)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  bcm: {type: can-bcm, interface: vcan0}
  tcp: {type: tcp, listen: 127.0.0.1:7000, format: candump}
routes:
  - {from: tcp, to: bcm}
)"),
                ElementsAre("bcm.yaml:5:5: route to CAN listener 'bcm' writes to the bus: set 'write: true'"));
}

TEST(CanBcmConfig, ReportsEveryJobErrorWithItsPosition)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  bcm:
    type: can-bcm
    interface: vcan0
    transmit:
      - {id: 0x800, extended: false, interval: 10ms, data: "01"}
      - {id: 0x20000000, extended: true, interval: 10ms, data: "01"}
      - {id: 0x100, interval: 0ms, data: "01"}
      - {id: 0x101, interval: 10ms, data: "0102030405060708 09"}
      - {id: 0x102, interval: 10ms, data: "1G"}
      - {id: 0x103, interval: 10ms, data: "123"}
      - {id: 0x104, count: 0, first_interval: 1ms, data: "01"}
      - {id: 0x105, count: 2, data: "01"}
      - {id: 0x106, data: "01"}
      - {id: 0x107, interval: 10ms}
      - {interval: 10ms, data: "01"}
      - {id: 0x123, interval: 10ms, data: "01", fd: true}
      - {id: 0x108, interval: 10ms, data: "01", colour: red}
      - {id: 0x108, interval: 1s, data: "02"}
    receive:
      - {id: 0x200, mask: "FF 00 00 00 00 00 00 00 00"}
      - {id: 0x201, mask: ""}
      - {id: 0x202, mask: "FF", changes_only: false}
      - {id: 0x203, throttle: -1s, timeout: 0s}
      - {id: 0x200}
)"),
                ElementsAre("bcm.yaml:6:14: standard id 0x800 is out of range (at most 0x7FF; set 'extended: true')",
                            "bcm.yaml:7:14: 'id' is 536870912, outside 0..536870911",
                            "bcm.yaml:8:31: 'interval' must be at least 1us",
                            "bcm.yaml:9:43: 9 data bytes: a classic CAN frame carries at most 8 (set 'fd: true' "
                            "for CAN FD)",
                            "bcm.yaml:10:43: 'data' is not hex bytes (\"11 22 33\", \"112233\"): bad hex '1G'",
                            "bcm.yaml:11:43: 'data' is not hex bytes (\"11 22 33\", \"112233\"): odd number of hex "
                            "digits",
                            "bcm.yaml:12:28: 'count' is 0, outside 1..4294967295",
                            "bcm.yaml:13:28: 'count' needs 'first_interval' (the spacing of the first 'count' "
                            "frames)",
                            "bcm.yaml:14:9: a transmit job needs 'interval' (or 'count' and 'first_interval')",
                            "bcm.yaml:15:9: a transmit job needs 'data' (hex bytes, \"\" for none)",
                            "bcm.yaml:16:9: a transmit job needs an 'id'",
                            "bcm.yaml:17:53: a CAN FD job needs 'fd: true' on the listener",
                            "bcm.yaml:18:49: unknown key 'colour' in transmit",
                            "bcm.yaml:19:14: id 0x108 has two transmit jobs (one job per id)",
                            "bcm.yaml:21:27: 'mask' has 9 bytes: 1 to 8 for a classic CAN job",
                            "bcm.yaml:22:27: 'mask' must not be empty",
                            "bcm.yaml:23:47: a 'mask' delivers only changes: remove 'mask' or 'changes_only: false'",
                            "bcm.yaml:24:31: bad duration for 'throttle': duration '-1s' is negative",
                            "bcm.yaml:24:45: 'timeout' must be at least 1us",
                            "bcm.yaml:25:14: id 0x200 has two receive jobs (one job per id)"));
}

TEST(CanBcmConfig, FdListenerTakesFdLengths)
{
    EXPECT_THAT(errorsOf(R"(listeners:
  bcm:
    type: can-bcm
    interface: vcan0
    fd: true
    transmit:
      - {id: 0x100, interval: 10ms, data: "00 01 02 03 04 05 06 07 08 09 0A 0B", brs: true}
      - {id: 0x101, interval: 10ms, data: "00 01 02 03 04 05 06 07 08"}
      - {id: 0x102, interval: 10ms, data: "01", fd: false, brs: true}
    receive:
      - {id: 0x200, mask: "FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF"}
  any: {type: can-bcm, interface: any}
  none: {type: can-bcm, transmit: {id: 1}}
)"),
                ElementsAre("bcm.yaml:8:43: 9 data bytes is not a CAN FD length (0..8, 12, 16, 20, 24, 32, 48, 64)",
                            "bcm.yaml:9:65: 'brs' (bit rate switch) is for CAN FD jobs",
                            "bcm.yaml:12:35: 'any' is not a network interface name",
                            "bcm.yaml:13:9: a can-bcm listener needs 'interface: NAME' (vcan0, can0)"));
}

TEST(CanBcmMessage, TxSetupWithCountFirstIntervalAndInterval)
{
    BcmTxJob job;
    job.frame.id = 0x18DAF110 | CanFrame::kEffFlag;
    job.frame.len = 2;
    job.frame.data[0] = 0x01;
    job.frame.data[1] = 0x02;
    job.count = 5;
    job.firstInterval = 10ms;
    job.interval = 1500ms;
    std::vector<uint8_t> bytes = bcmTxSetup(job);
    ASSERT_EQ(bytes.size(), kHead + 16);
    EXPECT_EQ(u32(bytes, 0), 1u);                           // TX_SETUP
    EXPECT_EQ(u32(bytes, 4), 0x0001u | 0x0002u | 0x0008u);  // SETTIMER | STARTTIMER | TX_ANNOUNCE
    EXPECT_EQ(u32(bytes, 8), 5u);                           // count
    EXPECT_EQ(timevalField(bytes, kLayout.ival1Sec), 0);  // ival1: 0 s
    EXPECT_EQ(timevalField(bytes, kLayout.ival1Usec), 10000);  //        10000 us
    EXPECT_EQ(timevalField(bytes, kLayout.ival2Sec), 1);  // ival2: 1 s
    EXPECT_EQ(timevalField(bytes, kLayout.ival2Usec), 500000);  //        500000 us
    EXPECT_EQ(u32(bytes, kLayout.canId), 0x98DAF110u);  // can_id with CAN_EFF_FLAG
    EXPECT_EQ(u32(bytes, kLayout.nframes), 1u);  // nframes
    EXPECT_EQ(u32(bytes, kHead), 0x98DAF110u);              // can_frame: id, len, pad, res0, res1, data
    EXPECT_EQ(slice(bytes, kHead + 4, 12), (std::vector<uint8_t>{2, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0}));
}

TEST(CanBcmMessage, TxSetupFdFrameIsACanfdFrame)
{
    BcmTxJob job;
    job.frame.id = 0x123;
    job.frame.len = 12;
    job.frame.flags = CanFrame::kFdf | CanFrame::kBrs;
    for (int i = 0; i < 12; ++i) job.frame.data[size_t(i)] = uint8_t(i);
    job.interval = 100ms;
    std::vector<uint8_t> bytes = bcmTxSetup(job);
    ASSERT_EQ(bytes.size(), kHead + 72);
    EXPECT_EQ(u32(bytes, 4), 0x0001u | 0x0002u | 0x0008u | 0x0800u);  // ... | CAN_FD_FRAME
    EXPECT_EQ(u32(bytes, 8), 0u);
    // No ival1 without count.
    EXPECT_EQ(timevalField(bytes, kLayout.ival1Sec) + timevalField(bytes, kLayout.ival1Usec), 0);
    EXPECT_EQ(timevalField(bytes, kLayout.ival2Usec), 100000);
    EXPECT_EQ(slice(bytes, kHead + 4, 4), (std::vector<uint8_t>{12, 0x01 /* CANFD_BRS */, 0, 0}));
    EXPECT_EQ(bytes[kHead + 8 + 11], 11);
}

TEST(CanBcmMessage, RxSetupWithMaskThrottleAndTimeout)
{
    BcmRxJob job;
    job.id = 0x200;
    job.mask = std::vector<uint8_t>{0xff, 0x0f};
    job.throttle = 50ms;
    job.timeout = 1s;
    std::vector<uint8_t> bytes = bcmRxSetup(job);
    ASSERT_EQ(bytes.size(), kHead + 16);
    EXPECT_EQ(u32(bytes, 0), 5u);  // RX_SETUP
    // SETTIMER | STARTTIMER | RX_CHECK_DLC | RX_ANNOUNCE_RESUME
    EXPECT_EQ(u32(bytes, 4), 0x0001u | 0x0002u | 0x0040u | 0x0100u);
    EXPECT_EQ(timevalField(bytes, kLayout.ival1Sec), 1);  // ival1 = timeout
    EXPECT_EQ(timevalField(bytes, kLayout.ival1Usec), 0);
    EXPECT_EQ(timevalField(bytes, kLayout.ival2Sec), 0);  // ival2 = throttle
    EXPECT_EQ(timevalField(bytes, kLayout.ival2Usec), 50000);
    EXPECT_EQ(u32(bytes, kLayout.canId), 0x200u);
    EXPECT_EQ(u32(bytes, kLayout.nframes), 1u);
    EXPECT_EQ(slice(bytes, kHead + 8, 8), (std::vector<uint8_t>{0xff, 0x0f, 0, 0, 0, 0, 0, 0}));
}

TEST(CanBcmMessage, RxSetupWithoutMaskFiltersOnTheIdOnly)
{
    BcmRxJob job;
    job.id = 0x201;
    std::vector<uint8_t> bytes = bcmRxSetup(job);
    ASSERT_EQ(bytes.size(), kHead);
    EXPECT_EQ(u32(bytes, 4), 0x0020u);  // RX_FILTER_ID, no timer
    EXPECT_EQ(u32(bytes, kLayout.nframes), 0u);
}

TEST(CanBcmMessage, TxSendAndParsingTheKernelsReplies)
{
    CanFrame frame;
    frame.id = 0x7FF;
    frame.len = 1;
    frame.data[0] = 0xAB;
    std::vector<uint8_t> send = bcmTxSend(frame);
    ASSERT_EQ(send.size(), kHead + 16);
    EXPECT_EQ(u32(send, 0), 4u);  // TX_SEND
    EXPECT_EQ(u32(send, 4), 0u);
    EXPECT_EQ(u32(send, kLayout.nframes), 1u);
    EXPECT_EQ(send[kHead + 8], 0xAB);

    // An RX_CHANGED looks like the TX_SEND above with opcode 12.
    std::vector<uint8_t> changed = send;
    changed[0] = 12;
    auto event = parseBcmMessage(changed);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, BcmEvent::Kind::Changed);
    ASSERT_TRUE(event->frame);
    EXPECT_EQ(event->frame->id, 0x7FFu);
    EXPECT_EQ(event->frame->len, 1);
    EXPECT_EQ(event->frame->data[0], 0xAB);

    // RX_TIMEOUT (11) has no frame.
    std::vector<uint8_t> timeout(send.begin(), send.begin() + kHead);
    timeout[0] = 11;
    timeout[kLayout.nframes] = 0;
    event = parseBcmMessage(timeout);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, BcmEvent::Kind::Timeout);
    EXPECT_EQ(event->id, 0x7FFu);
    EXPECT_FALSE(event->frame);

    EXPECT_FALSE(parseBcmMessage(std::span(changed).first(kHead + 3)));  // cut short
}

TEST(CanBcmFormats, TimeoutIsACommentInCandumpAndKindInJsonl)
{
    CanFrame frame;
    frame.id = 0x200;
    Message message;
    message.kind = MessageKind::CanTimeout;
    message.timestampNs = 1'700'000'000'123'456'789;
    message.source = "bcm";
    message.peer = "vcan0";
    message.ifindex = 3;
    frame.appendTo(message.data);
    std::vector<uint8_t> out;
    ASSERT_TRUE(findFormat("candump")->makeEncoder({})->encode(message, out));
    EXPECT_EQ(std::string(out.begin(), out.end()), "# (1700000000.123456) vcan0 200 timeout\n");
    out.clear();
    ASSERT_TRUE(findFormat("jsonl")->makeEncoder({})->encode(message, out));
    EXPECT_THAT(std::string(out.begin(), out.end()), ::testing::HasSubstr(R"("kind":"can_timeout","len":8,)"));
    // cannelloni carries frames only.
    out.clear();
    EXPECT_FALSE(findFormat("cannelloni")->makeEncoder({})->encode(message, out));
}
