"""A test plugin that provides an SMS sender through the ``sms_senders`` hook."""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(name="sms_plugin", label="测试短信通道", description="测试用：记录而不发送短信。")
