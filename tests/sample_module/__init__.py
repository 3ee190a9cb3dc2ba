"""A small module used only by the tests: it exercises every hook of the plugin contract."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="sample_module",
    label="示例服务",
    version="1.0.0",
    description="测试用模块：证明插件契约（路由、导航、工作台卡片、事件）。",
)
