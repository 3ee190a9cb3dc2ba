"""Department check-in (部门报到): the center blows the whistle, the summoned departments report."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="checkin",
    label="吹哨报到",
    version="0.1.0",
    description="中心吹哨、部门报到：召集部门限时报到、超时升级提醒、联合处置、评哨与考核。",
)
