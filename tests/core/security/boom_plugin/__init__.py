"""A module whose only page fails: lets the tests see the 500 page without touching product code."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(name="boom_plugin", label="故障测试", version="1.0.0", description="测试用：页面总是出错。")
