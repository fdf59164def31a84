// SPDX-License-Identifier: MIT
// CanFrame: canonical bytes (LINKTYPE_CAN_SOCKETCAN) out and back, and what parse() refuses.
#include <gtest/gtest.h>

#include "core/can_frame.h"

using namespace sockbridge;

namespace {

std::vector<uint8_t> bytesOf(const CanFrame &frame)
{
    std::vector<uint8_t> out;
    frame.appendTo(out);
    return out;
}

}  // namespace

TEST(CanFrame, AppendsClassicFrameBigEndianIdLengthAndPayload)
{
    CanFrame frame;
    frame.id = 0x123;
    frame.len = 4;
    frame.data = {0xde, 0xad, 0xbe, 0xef};
    EXPECT_EQ(bytesOf(frame), (std::vector<uint8_t>{0x00, 0x00, 0x01, 0x23, 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef}));
}

TEST(CanFrame, AppendsExtendedFdFrameWithFlags)
{
    CanFrame frame;
    frame.id = 0x1abcdef0 | CanFrame::kEffFlag;
    frame.len = 12;
    frame.flags = CanFrame::kFdf | CanFrame::kBrs;
    for (uint8_t i = 0; i < 12; ++i) frame.data[i] = i;
    std::vector<uint8_t> expected{0x9a, 0xbc, 0xde, 0xf0, 12, 0x05, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    EXPECT_EQ(bytesOf(frame), expected);
    auto back = CanFrame::parse(expected);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->isFd());
    EXPECT_TRUE(back->isExtended());
    EXPECT_EQ(back->rawId(), 0x1abcdef0u);
    EXPECT_EQ(back->flags, CanFrame::kFdf | CanFrame::kBrs);
    EXPECT_EQ(bytesOf(*back), expected);
}

TEST(CanFrame, RoundTripsRemoteAndErrorFrames)
{
    CanFrame rtr;
    rtr.id = 0x7ff | CanFrame::kRtrFlag;
    rtr.len = 3;
    auto back = CanFrame::parse(bytesOf(rtr));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->isRtr());
    EXPECT_EQ(back->len, 3);

    CanFrame error;
    error.id = CanFrame::kErrFlag | 0x80;  // CAN_ERR_BUSOFF
    error.len = 8;
    back = CanFrame::parse(bytesOf(error));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->isError());
}

TEST(CanFrame, RejectsInvalidBytes)
{
    using Bytes = std::vector<uint8_t>;
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 0, 0, 0}));                       // short
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 2, 0, 0, 0, 1}));                 // length says 2, 1 follows
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 1, 0, 0, 0, 1, 2}));              // trailing byte
    Bytes nine{0, 0, 1, 0x23, 9, 0, 0, 0};
    nine.resize(17);
    EXPECT_FALSE(CanFrame::parse(nine));                                                 // 9 bytes classic
    Bytes fd10{0, 0, 1, 0x23, 10, CanFrame::kFdf, 0, 0};
    fd10.resize(18);
    EXPECT_FALSE(CanFrame::parse(fd10));                                                 // not an FD length
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 0x08, 0x00, 0, 0, 0, 0}));                 // standard id 0x800
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 0, CanFrame::kBrs, 0, 0}));       // BRS on classic
    EXPECT_FALSE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 0, 0x08, 0, 0}));                 // unknown flag
    EXPECT_FALSE(CanFrame::parse(Bytes{0x40, 0, 1, 0x23, 0, CanFrame::kFdf, 0, 0}));   // RTR on FD
    EXPECT_TRUE(CanFrame::parse(Bytes{0, 0, 1, 0x23, 0, 0, 0, 0}));
    Bytes fd64{0x80, 0, 1, 0x23, 64, CanFrame::kFdf, 0, 0};
    fd64.resize(72);
    EXPECT_TRUE(CanFrame::parse(fd64));
}
