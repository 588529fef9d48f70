// JSON through the framework's JavaScriptSerializer (no third-party DLL to deploy).
namespace Oceane.DataMiner
{
	using System;
	using System.Collections;
	using System.Collections.Generic;
	using System.Globalization;
	using System.Web.Script.Serialization;

	/// <summary>JSON through the framework's JavaScriptSerializer (no third-party DLL to deploy).</summary>
	public static class Json
	{
		public static object Parse(string text)
		{
			var serializer = new JavaScriptSerializer { MaxJsonLength = 4 * 1024 * 1024 };
			return serializer.DeserializeObject(text);
		}

		/// <summary>Parses an answer of the intake; not JSON is the intake's fault, reported as such.</summary>
		public static object ParseAnswer(string text)
		{
			try
			{
				return Parse(text ?? string.Empty);
			}
			catch (ArgumentException)
			{
				throw new IntakeException(0, "the intake answered something that is not JSON");
			}
			catch (InvalidOperationException)
			{
				throw new IntakeException(0, "the intake answered something that is not JSON");
			}
		}

		public static string Serialize(object value)
		{
			return new JavaScriptSerializer().Serialize(value);
		}

		/// <summary>The object's member as text: strings as they are, numbers in invariant culture, else empty.</summary>
		public static string Str(IDictionary<string, object> obj, string key)
		{
			object value;
			if (obj == null || !obj.TryGetValue(key, out value) || value == null)
			{
				return string.Empty;
			}

			if (value is string)
			{
				return (string)value;
			}

			if (value is bool)
			{
				return (bool)value ? "true" : "false";
			}

			var formattable = value as IFormattable;
			return formattable != null ? formattable.ToString(null, CultureInfo.InvariantCulture) : value.ToString();
		}

		public static bool Bool(IDictionary<string, object> obj, string key)
		{
			object value;
			return obj != null && obj.TryGetValue(key, out value) && value is bool && (bool)value;
		}

		public static List<string> Strings(IDictionary<string, object> obj, string key)
		{
			object value;
			var result = new List<string>();
			if (obj != null && obj.TryGetValue(key, out value) && value is IEnumerable && !(value is string))
			{
				foreach (object item in (IEnumerable)value)
				{
					if (item != null)
					{
						result.Add(Convert.ToString(item, CultureInfo.InvariantCulture));
					}
				}
			}

			return result;
		}
	}
}
