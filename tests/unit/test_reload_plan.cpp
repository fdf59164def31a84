// SPDX-License-Identifier: MIT
// ReloadPlan: what a reload keeps, replaces, adds and removes, from two configs as a user writes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "core/reload_plan.h"

using namespace sockbridge;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

namespace {

ReloadPlan plan(const std::string &before, const std::string &after)
{
    return planReload(describeConfig(parseConfig(before, "old.yaml")), describeConfig(parseConfig(after, "new.yaml")));
}

std::vector<std::string> list(const std::set<std::string> &names) { return {names.begin(), names.end()}; }

const char *kBase = R"(listeners:
  front: {type: tcp, listen: 127.0.0.1:7000, format: lines}
  back: {type: udp, peer: 127.0.0.1:7001}
  spare: {type: tcp, listen: 127.0.0.1:7002}
routes:
  - from: front
    to: back
  - from: front
    log: {path: /tmp/a.jsonl}
)";

}  // namespace

TEST(ReloadPlan, SameConfigKeepsEverything)
{
    ReloadPlan p = plan(kBase, kBase);
    EXPECT_TRUE(p.unchanged());
    EXPECT_THAT(list(p.keepListeners), ElementsAre("back", "front", "spare"));
    EXPECT_THAT(list(p.keepRoutes), ElementsAre("front->back", "front->log:/tmp/a.jsonl"));
    EXPECT_THAT(list(p.keepLogs), ElementsAre("/tmp/a.jsonl"));
}

TEST(ReloadPlan, ReformattedYamlIsUnchanged)
{
    ReloadPlan p = plan(kBase, R"(listeners:
  front:
    type: tcp
    listen: 127.0.0.1:7000
    format: lines
  back: {type: udp, peer: 127.0.0.1:7001}
  spare: {type: tcp, listen: 127.0.0.1:7002}
routes:
  - {from: front, to: back}
  - {from: front, log: {path: /tmp/a.jsonl}}
)");
    EXPECT_TRUE(p.unchanged()) << p.summary();
}

TEST(ReloadPlan, ChangedListenerIsReplacedAndItsRoutesRebuilt)
{
    std::string after = kBase;
    after.replace(after.find("7001"), 4, "7009");
    ReloadPlan p = plan(kBase, after);
    EXPECT_THAT(list(p.keepListeners), ElementsAre("front", "spare"));
    EXPECT_THAT(list(p.replaceListeners), ElementsAre("back"));
    EXPECT_THAT(list(p.keepRoutes), ElementsAre("front->log:/tmp/a.jsonl"));
    EXPECT_THAT(list(p.dropRoutes), ElementsAre("front->back"));
    EXPECT_THAT(list(p.addRoutes), ElementsAre("front->back"));
}

TEST(ReloadPlan, AddedAndRemovedListeners)
{
    std::string after = kBase;
    after.replace(after.find("  spare:"), std::string("  spare: {type: tcp, listen: 127.0.0.1:7002}\n").size(),
                  "  extra: {type: tcp, listen: 127.0.0.1:7003}\n");
    ReloadPlan p = plan(kBase, after);
    EXPECT_THAT(list(p.addListeners), ElementsAre("extra"));
    EXPECT_THAT(list(p.removeListeners), ElementsAre("spare"));
    EXPECT_THAT(p.replaceListeners, IsEmpty());
    EXPECT_THAT(list(p.keepRoutes), ElementsAre("front->back", "front->log:/tmp/a.jsonl"));
}

TEST(ReloadPlan, ChangedQueueSettingsRebuildOnlyThatRoute)
{
    std::string after = kBase;
    after.replace(after.find("    to: back\n"), 12, "    to: back\n    queue: {max_messages: 10}\n");
    ReloadPlan p = plan(kBase, after);
    EXPECT_THAT(list(p.keepListeners), ElementsAre("back", "front", "spare"));
    EXPECT_THAT(list(p.addRoutes), ElementsAre("front->back"));
    EXPECT_THAT(list(p.dropRoutes), ElementsAre("front->back"));
    EXPECT_THAT(list(p.keepRoutes), ElementsAre("front->log:/tmp/a.jsonl"));
}

TEST(ReloadPlan, ChangedLogSettingsReopenTheLogAndRebuildItsRoutes)
{
    std::string after = kBase;
    after.replace(after.find("{path: /tmp/a.jsonl}"), 20, "{path: /tmp/a.jsonl, format: hex}");
    ReloadPlan p = plan(kBase, after);
    EXPECT_THAT(list(p.openLogs), ElementsAre("/tmp/a.jsonl"));
    EXPECT_THAT(list(p.closeLogs), ElementsAre("/tmp/a.jsonl"));
    EXPECT_THAT(list(p.keepRoutes), ElementsAre("front->back"));
    EXPECT_THAT(list(p.addRoutes), ElementsAre("front->log:/tmp/a.jsonl"));
}

TEST(ReloadPlan, PerConnectionPairIsReplacedTogether)
{
    const char *before = R"(listeners:
  front: {type: tcp, listen: 127.0.0.1:7000}
  back: {type: tcp, connect: 127.0.0.1:7001}
routes:
  - {from: front, to: back, per_connection: true}
)";
    std::string after = before;
    after.replace(after.find("7001"), 4, "7005");
    ReloadPlan p = plan(before, after);
    EXPECT_THAT(list(p.replaceListeners), ElementsAre("back", "front"));
    EXPECT_THAT(p.keepListeners, IsEmpty());
}

TEST(ReloadPlan, FromNothingEverythingIsAdded)
{
    ReloadPlan p = planReload(AppliedConfig{}, describeConfig(parseConfig(kBase, "new.yaml")));
    EXPECT_THAT(list(p.addListeners), ElementsAre("back", "front", "spare"));
    EXPECT_THAT(list(p.openLogs), ElementsAre("/tmp/a.jsonl"));
    EXPECT_EQ(p.addRoutes.size(), 2u);
}
