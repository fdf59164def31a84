// SPDX-License-Identifier: MIT
// MQTT topic templates (placeholders, sanitising, errors) and topic filter matching.
#include <gtest/gtest.h>

#include "core/can_frame.h"
#include "listeners/mqtt_topic.h"

namespace sockbridge {
namespace {

Message canMessage(uint32_t id)
{
    CanFrame frame;
    frame.id = id;
    frame.len = 1;
    Message message;
    message.kind = MessageKind::CanFrame;
    frame.appendTo(message.data);
    message.source = "can0";
    return message;
}

TopicTemplate parsed(std::string_view text)
{
    std::string why;
    auto topic = TopicTemplate::parse(text, why);
    EXPECT_TRUE(topic) << why;
    return topic.value_or(TopicTemplate{});
}

TEST(MqttTopic, TopicTemplate_FillsEveryPlaceholder)
{
    auto topic = parsed("fleet/{hostname}/{listener}/{can_id}/{kind}");
    EXPECT_EQ(topic.render(canMessage(0x123), "gw1"), "fleet/gw1/can0/123/can");
    EXPECT_EQ(topic.render(canMessage(0x18DAF110 | CanFrame::kEffFlag), "gw1"), "fleet/gw1/can0/18DAF110/can");
    Message datagram;
    datagram.kind = MessageKind::Datagram;
    datagram.source = "udp-in";
    datagram.peer = "127.0.0.1:5000";
    EXPECT_EQ(parsed("a/{source}/{peer}/{can_id}").render(datagram, "h"), "a/udp-in/127.0.0.1:5000/none");
}

TEST(MqttTopic, TopicTemplate_KeepsEachValueToOneLevel)
{
    Message message;
    message.source = "in";
    message.peer = "/run/x.sock";
    EXPECT_EQ(parsed("p/{peer}").render(message, "h"), "p/_run_x.sock");
    message.peer = "";
    EXPECT_EQ(parsed("p/{peer}/{hostname}").render(message, "a+b#c"), "p/-/a_b_c");
}

TEST(MqttTopic, TopicTemplate_RejectsWhatCannotBeATopic)
{
    std::string why;
    EXPECT_FALSE(TopicTemplate::parse("fleet/{host}", why));
    EXPECT_NE(why.find("unknown placeholder '{host}'"), std::string::npos) << why;
    EXPECT_FALSE(TopicTemplate::parse("fleet/{listener", why));
    EXPECT_NE(why.find("without its '}'"), std::string::npos) << why;
    EXPECT_FALSE(TopicTemplate::parse("fleet/+/x", why));
    EXPECT_NE(why.find("wildcard"), std::string::npos) << why;
    EXPECT_FALSE(TopicTemplate::parse("", why));
}

TEST(MqttTopic, TopicFilter_MatchesLikeMqtt)
{
    EXPECT_TRUE(topicMatchesFilter("a/+/c", "a/b/c"));
    EXPECT_FALSE(topicMatchesFilter("a/+/c", "a/b/d"));
    EXPECT_FALSE(topicMatchesFilter("a/+", "a/b/c"));
    EXPECT_TRUE(topicMatchesFilter("a/#", "a/b/c"));
    EXPECT_TRUE(topicMatchesFilter("a/#", "a"));
    EXPECT_TRUE(topicMatchesFilter("#", "x/y"));
    EXPECT_FALSE(topicMatchesFilter("#", "$SYS/broker"));
    EXPECT_TRUE(topicMatchesFilter("$SYS/#", "$SYS/broker"));
    EXPECT_FALSE(topicMatchesFilter("a/b", "a/b/c"));
    EXPECT_TRUE(topicMatchesFilter("+/+", "/x"));
}

TEST(MqttTopic, TopicFilter_ValidatesWildcards)
{
    std::string why;
    EXPECT_TRUE(validTopicFilter("fleet/+/can0/#", why));
    EXPECT_FALSE(validTopicFilter("fleet/#/x", why));
    EXPECT_FALSE(validTopicFilter("fleet/a+", why));
    EXPECT_FALSE(validTopicFilter("", why));
}

}  // namespace
}  // namespace sockbridge
